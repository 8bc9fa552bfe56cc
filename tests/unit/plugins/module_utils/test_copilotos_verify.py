"""copilotos_verify: how probe results become symptoms (the pure half of the one verification pass)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import redis
from ansible.module_utils import copilotos_verify as verify
from ansible.module_utils.copilotos_docker import DockerError

PLAN = {"env": {"RATE_LIMIT_CALLS": "500", "RATE_LIMIT_PERIOD": "60"}}


def ctx() -> Any:
    return SimpleNamespace(env={}, generation="current", password="pw", project="p", docker_host=None,
                           client=object(), redis_wait_s=0, api_ip="172.18.0.5", api_started=None)


@pytest.mark.parametrize(("raised", "code"), [
    # A stopped redis container has no address on the project network.
    (DockerError("container p-redis-1 has no IP address (is it running?)"), "REDIS_UNREACHABLE"),
    # Redis's password changed behind the toolkit's back.
    (redis.exceptions.AuthenticationError("WRONGPASS invalid username-password pair"), "REDIS_AUTH_FAILED"),
    (redis.exceptions.ConnectionError("Error 111 connecting to 172.18.0.3:6379. Connection refused."),
     "REDIS_UNREACHABLE"),
])
def test_client_list_errors_are_redis_causes_not_probe_failures(monkeypatch: pytest.MonkeyPatch,
                                                                raised: Exception, code: str) -> None:
    def boom(*_args: Any) -> dict[str, Any]:
        raise raised

    monkeypatch.setattr(verify, "client_list", boom)
    monkeypatch.setattr(verify.app, "redis_clients", lambda env, generation: [])
    result = verify.probe_redis(ctx())
    assert result["client_list"]["code"] == code
    found = verify.redis_symptoms(result)
    assert [(s["code"], s["severity"], s["area"]) for s in found] == [(code, "critical", "redis")]
    assert "pw" not in found[0]["message"]


def test_no_fresh_connection_from_the_api_is_its_own_symptom() -> None:
    listing = {"api_address": "172.18.0.5", "connections": [{"addr": "172.18.0.5:4242", "cmd": "auth"}],
               "authenticated": []}
    found = verify.redis_symptoms({"clients": [], "client_list": listing})
    assert [s["code"] for s in found] == ["REDIS_NO_API_CONNECTION"]
    assert "172.18.0.5" in found[0]["message"]


def test_client_findings_name_the_client_and_its_source() -> None:
    result = {"clients": [{"name": "cache", "source": "CELERY_BROKER_URL", "url": "redis://localhost:6379/0",
                           "findings": [{"code": "REDIS_URL_LOCALHOST", "severity": "critical", "message": "m"},
                                        {"code": "INFO_ONLY", "severity": "info", "message": "i"}]}],
              "client_list": {"authenticated": [{"addr": "x"}]}}
    found = verify.redis_symptoms(result)
    assert [s["code"] for s in found] == ["REDIS_URL_LOCALHOST"]
    assert found[0]["message"].startswith("cache client (CELERY_BROKER_URL): ")


@pytest.mark.parametrize(("result", "codes"), [
    # As planned: 500 pass, the 501st is refused.
    ({"calls": 500, "period": 60, "sent": 501, "passed": 500, "last": 429, "within_window": True}, []),
    # The api enforces its default of 100: the plan did not reach it.
    ({"calls": 500, "period": 60, "sent": 501, "passed": 100, "last": 429, "within_window": True},
     ["RATE_LIMIT_NOT_AS_PLANNED"]),
    # Slower than the window: the count proves nothing either way.
    ({"calls": 500, "period": 60, "sent": 501, "passed": 100, "last": 200, "within_window": False}, []),
    ({"skipped": "the rate limit is off"}, []),
    ({"error": "no image"}, ["RATE_LIMIT_PROBE_FAILED"]),
])
def test_rate_limit_is_judged_against_the_plan(result: dict[str, Any], codes: list[str]) -> None:
    assert [s["code"] for s in verify.rate_symptoms(result, PLAN)] == codes
