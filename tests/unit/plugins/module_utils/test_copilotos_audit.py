"""copilotos_audit: the pure checks behind config_audit, on the diagnosis's values and the plan's."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ansible.module_utils.copilotos_audit import (
    DEFAULT_PLAN,
    audit_containers,
    audit_cors,
    audit_drift,
    audit_file_mode,
    audit_mongo_pool,
    audit_rate_limit,
    audit_timeouts,
    pending_keys,
)
from ansible.module_utils.copilotos_common import MASK

SECRET = "Audit!Pw@42"
INCIDENT = {
    "CORS_ORIGINS": '["http://localhost:3000"]',
    "SAPTIVA_TIMEOUT": "120",
    "SAPTIVA_CONNECT_TIMEOUT": "30",
    "SAPTIVA_READ_TIMEOUT": "60",
    "DB_MAX_POOL_SIZE": "100",
    "DB_MIN_POOL_SIZE": "10",
    "DB_SERVER_SELECTION_TIMEOUT_MS": "5000",
    "RATE_LIMIT_REQUESTS_PER_MINUTE": "200",
    "REDIS_URL": "redis://:redis_password_change_me@redis:6379/0",
}
FIXED = {
    "CORS_ORIGINS": json.dumps(DEFAULT_PLAN["cors_required_origins"]),
    "SAPTIVA_TIMEOUT": "120",
    "SAPTIVA_CONNECT_TIMEOUT": "15",
    "SAPTIVA_READ_TIMEOUT": "120",
    "DB_MAX_POOL_SIZE": "50",
    "DB_MIN_POOL_SIZE": "5",
    "DB_SERVER_SELECTION_TIMEOUT_MS": "10000",
    "RATE_LIMIT_REQUESTS_PER_MINUTE": "500",
    "REDIS_URL": "redis://:%s@redis:6379/0" % SECRET,
}


def codes(findings: list[dict[str, Any]]) -> list[str]:
    return [f["code"] for f in findings]


def everything(values: dict[str, str]) -> list[str]:
    return codes(
        audit_cors(values, DEFAULT_PLAN, ".env.production")
        + audit_timeouts(values, DEFAULT_PLAN)
        + audit_mongo_pool(values, DEFAULT_PLAN)
        + audit_rate_limit(values, DEFAULT_PLAN)
    )


def test_the_incident_has_every_config_defect_of_the_diagnosis() -> None:
    assert everything(INCIDENT) == [
        "CORS_ORIGIN_MISSING",
        "SAPTIVA_TIMEOUT_BELOW_PLAN",
        "MONGO_POOL_ABOVE_PLAN",
        "MONGO_SERVER_SELECTION_TIMEOUT_LOW",
        "RATE_LIMIT_BELOW_EXPECTED",
    ]


def test_the_plan_passes() -> None:
    assert everything(FIXED) == []


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("https://copiloto.saptiva.com,https://www.copiloto.saptiva.com", "not a JSON list"),
        ('{"a": 1}', "not a list of strings"),
        (None, "CORS_ORIGINS is not set"),
    ],
)
def test_cors_the_api_cannot_parse_is_critical(raw: str | None, why: str) -> None:
    values = {} if raw is None else {"CORS_ORIGINS": raw}
    (found,) = audit_cors(values, DEFAULT_PLAN, ".env.production")
    assert found["code"] == "CORS_UNPARSEABLE" and found["severity"] == "critical" and why in found["message"]


def test_cors_names_the_missing_origin_only() -> None:
    (found,) = audit_cors({"CORS_ORIGINS": '["https://copiloto.saptiva.com"]'}, DEFAULT_PLAN, "the running api")
    assert found["evidence"]["missing"] == ["https://www.copiloto.saptiva.com"]
    assert "in the running api" in found["message"]


@pytest.mark.parametrize(
    ("connect", "read", "total", "expected"),
    [
        ("15", "120", "120", []),
        ("120", "120", "120", ["SAPTIVA_TIMEOUT_INCONSISTENT"]),
        ("15", "180", "120", ["SAPTIVA_TIMEOUT_INCONSISTENT"]),
        ("15", "60", "120", ["SAPTIVA_TIMEOUT_BELOW_PLAN"]),
        ("soon", "120", "120", ["SAPTIVA_TIMEOUT_INCONSISTENT"]),
    ],
)
def test_timeouts(connect: str, read: str, total: str, expected: list[str]) -> None:
    values = {"SAPTIVA_CONNECT_TIMEOUT": connect, "SAPTIVA_READ_TIMEOUT": read, "SAPTIVA_TIMEOUT": total}
    assert codes(audit_timeouts(values, DEFAULT_PLAN)) == expected


def test_a_missing_number_is_a_finding_not_a_crash() -> None:
    assert codes(audit_mongo_pool({}, DEFAULT_PLAN)) == ["MONGO_POOL_ABOVE_PLAN", "MONGO_SERVER_SELECTION_TIMEOUT_LOW"]
    assert codes(audit_rate_limit({"RATE_LIMIT_REQUESTS_PER_MINUTE": "lots"}, DEFAULT_PLAN)) == [
        "RATE_LIMIT_BELOW_EXPECTED"
    ]


def test_pending_keys_names_only_what_differs() -> None:
    assert pending_keys(INCIDENT, {"RATE_LIMIT_REQUESTS_PER_MINUTE": "500", "SAPTIVA_TIMEOUT": "120", "NEW": "1"}) == [
        "NEW",
        "RATE_LIMIT_REQUESTS_PER_MINUTE",
    ]


def test_drift_without_the_override_is_the_missing_fix_and_never_shows_the_secret() -> None:
    container = dict(FIXED, REDIS_URL="redis://localhost:6379/0", DB_MAX_POOL_SIZE="100")
    findings = audit_drift(FIXED, container, ["REDIS_URL", "REDIS_PASSWORD"], override_in_place=False)
    assert codes(findings) == ["COMPOSE_OVERRIDE_MISSING", "CONTAINER_ENV_DRIFT"]
    assert findings[0]["evidence"]["file_value"] == MASK
    assert findings[1]["evidence"]["differing_keys"] == ["DB_MAX_POOL_SIZE"]
    assert SECRET not in json.dumps(findings)


def test_drift_with_the_override_in_place_is_plain_drift() -> None:
    container = dict(FIXED, REDIS_URL="redis://:old@redis:6379/0")
    del container["RATE_LIMIT_REQUESTS_PER_MINUTE"]
    (found,) = audit_drift(FIXED, container, ["REDIS_URL"], override_in_place=True)
    assert found["code"] == "CONTAINER_ENV_DRIFT"
    assert found["evidence"]["differing_keys"] == ["REDIS_URL"]
    assert found["evidence"]["missing_keys"] == ["RATE_LIMIT_REQUESTS_PER_MINUTE"]


@pytest.mark.parametrize(("mode", "expected"), [(0o600, []), (0o640, []), (0o644, ["ENV_FILE_WORLD_READABLE"])])
def test_file_mode(mode: int, expected: list[str]) -> None:
    assert codes(audit_file_mode(mode)) == expected


def state(**kw: Any) -> dict[str, Any]:
    base = {"name": "p-api-1", "service": "api", "status": "running", "health": "healthy", "restart_count": 0}
    base.update(kw)
    return base


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({}, []),
        ({"health": "none"}, []),
        ({"health": "starting", "uptime_s": 20}, ["CONTAINER_STARTING"]),
        ({"health": "starting", "uptime_s": 600}, ["CONTAINER_UNHEALTHY"]),
        ({"health": "starting", "uptime_s": None}, ["CONTAINER_UNHEALTHY"]),
        ({"health": "starting", "uptime_s": 20, "restart_count": 3}, ["CONTAINER_RESTARTING"]),
        ({"health": "unhealthy", "uptime_s": 20}, ["CONTAINER_UNHEALTHY"]),
        ({"status": "exited", "health": "none"}, ["CONTAINER_UNHEALTHY"]),
        ({"status": "restarting"}, ["CONTAINER_RESTARTING"]),
        ({"restart_count": 2}, []),
    ],
)
def test_containers(kw: dict[str, Any], expected: list[str]) -> None:
    findings = audit_containers([state(**kw)])
    assert codes(findings) == expected
    if expected == ["CONTAINER_STARTING"]:
        assert findings[0]["severity"] == "info" and findings[0]["evidence"]["grace_s"] == 120
