"""Module-level tests of library/container_logs.py with a fake Docker client."""

from __future__ import annotations

import json
from typing import Any

import container_logs
import pytest
from ansible.module_utils import copilotos_logs

from tests.unit.plugins.modules.conftest import invoke_module

DIAGNOSIS = json.dumps(
    {
        "error": "Error 111 connecting to localhost:6379. Connection refused.",
        "event": "Redis cache connection failed",
        "level": "warning",
    }
)
PASSWORD = "Url-Pw-31337"
LINES = [
    "2025-09-30T20:18:59.000000000Z %s" % DIAGNOSIS,  # previous run: before the start
    "2025-09-30T20:19:00.585060000Z %s" % DIAGNOSIS,
    "2025-09-30T20:19:01.000000000Z GET /api/health 200",
    "2025-09-30T20:19:02.000000000Z NOAUTH redis://:%s@redis:6379/0" % PASSWORD,
]


class FakeContainer:
    name = "proj-api-1"
    attrs = {
        "Created": "2025-09-30T10:00:00Z",
        "State": {"StartedAt": "2025-09-30T20:19:00.5Z", "FinishedAt": "2025-09-30T20:18:59.5Z"},
    }

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def logs(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        assert kwargs["timestamps"] is True and kwargs["follow"] is False
        data = ("\n".join(LINES) + "\n").encode()
        return iter([data[:50], data[50:77], data[77:]])  # chunks that split lines


class FakeClient:
    def __init__(self, container: FakeContainer) -> None:
        outer = container

        class Containers:
            def list(self, all: bool = True, filters: Any = None) -> list[FakeContainer]:
                return [outer]

            def get(self, name: str) -> FakeContainer:
                return outer

        self.containers = Containers()


@pytest.fixture
def container(monkeypatch: pytest.MonkeyPatch) -> FakeContainer:
    fake = FakeContainer()
    monkeypatch.setattr(copilotos_logs, "get_client", lambda host=None: FakeClient(fake))
    return fake


def run(capsys: pytest.CaptureFixture[str], **args: Any) -> dict[str, Any]:
    result, out = invoke_module(container_logs.main, capsys, **args)
    assert PASSWORD not in out
    return result


def test_audit_counts_since_previous_run_end(container: FakeContainer, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, project_name="proj", service="api", mode="audit")
    assert result["changed"] is False and result.get("failed") is not True
    assert result["since"] == "2025-09-30T20:18:59.500000000Z"
    assert result["counts"] == {"redis_connection_failed": 1, "connection_refused": 1, "redis_auth_failed": 1}
    assert result["scanned_lines"] == 3
    assert {f["code"] for f in result["findings"]} == {
        "LOG_SIGNATURE_REDIS_CONNECTION_FAILED",
        "LOG_SIGNATURE_CONNECTION_REFUSED",
        "LOG_SIGNATURE_REDIS_AUTH_FAILED",
    }
    assert container.calls[0]["since"] == 1759263539
    assert "redis://:********@redis" in json.dumps(result["matches"])


def test_enforce_fails_with_signatures(container: FakeContainer, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, container="proj-api-1")
    assert result["failed"] is True
    assert "connection_refused=1, redis_auth_failed=1, redis_connection_failed=1" in result["msg"]
    assert "container proj-api-1" in result["msg"]


def test_explicit_since_and_custom_pattern(container: FakeContainer, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(
        capsys,
        container="x",
        since="2025-09-30T20:19:01Z",
        patterns=[{"name": "health_ok", "regex": "GET /api/health 200"}],
    )
    assert result["failed"] is True
    assert result["counts"] == {"health_ok": 1}
    assert result["findings"][0]["severity"] == "medium"


def test_nothing_found_passes(container: FakeContainer, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, container="x", since="1759263543")
    assert result.get("failed") is not True and result["counts"] == {} and result["scanned_lines"] == 0


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"container": "x", "patterns": [{"name": "bad", "regex": "("}]}, "invalid regex"),
        ({"container": "x", "since": "yesterday"}, "neither an ISO timestamp"),
        ({"service": "api"}, "project_name"),
        ({"service": "api", "project_name": "p", "container": "x"}, "mutually exclusive"),
        ({}, "one of the following is required"),
    ],
)
def test_argument_errors(capsys: pytest.CaptureFixture[str], args: dict[str, Any], expected: str) -> None:
    result = run(capsys, **args)
    assert result["failed"] is True and expected in result["msg"]
