"""redis_auth: finding codes, error classification and masking (run() with a stub module)."""

from __future__ import annotations

import ssl

import pytest
import redis
import redis_auth
from ansible.module_utils import copilotos_probe as probe
from ansible.module_utils import copilotos_redis

from tests.helpers.servers import closed_port, redis_server

SECRET = "Unit!Redis@pw/1"  # reserved characters on purpose
PLACEHOLDER = "redis_password_change_me"


class StubModule:
    def __init__(self, **params):
        defaults = {
            "url": None,
            "host": None,
            "port": None,
            "db": None,
            "username": None,
            "password": None,
            "expected_password": None,
            "tls": None,
            "tls_ca_cert": None,
            "tls_verify": True,
            "mode": "audit",
            "compose_project": None,
            "service": "redis",
            "docker_host": None,
            "connect_timeout": 2.0,
        }
        defaults.update(params)
        self.params = defaults


def codes(result):
    return [f["code"] for f in result["findings"]]


def assert_no_secret(result, *secrets):
    from urllib.parse import quote

    text = repr(result)
    for secret in secrets:
        assert secret not in text
        assert quote(secret, safe="") not in text


# -- error classification --------------------------------------------------------
@pytest.mark.parametrize(
    ("exc", "tls", "code", "needle"),
    [
        (
            redis.exceptions.ConnectionError("Error 111 connecting to localhost:6379. Connection refused."),
            False,
            "REDIS_UNREACHABLE",
            "Error 111",
        ),
        (
            redis.exceptions.ConnectionError("Error -2 connecting to redis:6379. Name or service not known."),
            False,
            "REDIS_UNREACHABLE",
            "DNS",
        ),
        (redis.exceptions.TimeoutError("Timeout connecting to server"), False, "REDIS_UNREACHABLE", "timed out"),
        (
            redis.exceptions.AuthenticationError("invalid username-password pair or user is disabled."),
            False,
            "REDIS_AUTH_FAILED",
            "WRONGPASS",
        ),
        (redis.exceptions.AuthenticationError("Authentication required."), False, "REDIS_AUTH_FAILED", "NOAUTH"),
        (
            redis.exceptions.AuthenticationError(
                "AUTH <password> called without any password configured for the default user."
            ),
            False,
            "REDIS_AUTH_FAILED",
            "no password configured",
        ),
        (
            redis.exceptions.ConnectionError("Error 1 connecting to redis:6380. [SSL: WRONG_VERSION_NUMBER]"),
            True,
            "REDIS_TLS_ERROR",
            "TLS",
        ),
    ],
)
def test_classify_error(exc, tls, code, needle):
    got_code, why = copilotos_redis.classify_error(exc, tls)
    assert got_code == code
    assert needle in why


def test_classify_tls_timeout_from_ssl_cause():
    try:
        try:
            raise ssl.SSLError("_ssl.c:989: The handshake operation timed out")
        except ssl.SSLError as inner:
            raise redis.exceptions.TimeoutError("Timeout connecting to server") from inner
    except redis.exceptions.TimeoutError as exc:
        assert copilotos_redis.classify_error(exc, True)[0] == "REDIS_TLS_ERROR"
        assert copilotos_redis.classify_error(exc, False)[0] == "REDIS_UNREACHABLE"


@pytest.mark.parametrize(
    ("host", "service", "expected"),
    [
        ("localhost", "redis", "redis"),
        ("127.0.0.1", "redis", "redis"),
        ("redis", "redis", "redis"),
        ("cache", "redis", "cache"),
        ("10.1.2.3", "redis", None),
        ("redis.example.com", "redis", None),
    ],
)
def test_service_for_host(host, service, expected):
    assert probe.service_for_host(host, service) == expected


# -- URL findings without a network ----------------------------------------------------
def test_unparseable_url_is_a_critical_finding_without_the_password():
    result = redis_auth.run(StubModule(url="redis://:%s@redis:notaport/0" % "hunter2secret"))
    assert codes(result) == ["REDIS_URL_UNPARSEABLE"]
    assert result["findings"][0]["severity"] == "critical"
    assert result["reachable"] is False
    assert_no_secret(result, "hunter2secret")


def test_localhost_mismatch_and_resolution_through_compose(monkeypatch):
    with redis_server(SECRET) as srv:
        seen = {}

        def fake_resolve(docker_host, project, service):
            seen["args"] = (project, service)
            return srv.host, ""

        monkeypatch.setattr(probe, "resolve", fake_resolve)
        url = "redis://:%s@localhost:%d/0" % (PLACEHOLDER, srv.port)
        result = redis_auth.run(StubModule(url=url, expected_password=SECRET, compose_project="lab"))
    assert seen["args"] == ("lab", "redis")
    assert set(codes(result)) == {"REDIS_URL_PASSWORD_MISMATCH", "REDIS_URL_LOCALHOST", "REDIS_AUTH_FAILED"}
    assert result["reachable"] is True
    assert result["authenticated"] is False
    assert result["expected_password_authenticated"] is True
    assert result["resolved_address"] == "127.0.0.1:%d" % srv.port
    assert result["target"] == "redis://:********@localhost:%d/0" % srv.port
    assert_no_secret(result, SECRET, PLACEHOLDER)


def test_localhost_without_compose_project_is_not_a_finding():
    with redis_server(SECRET) as srv:
        from urllib.parse import quote

        result = redis_auth.run(
            StubModule(url="redis://:%s@127.0.0.1:%d/0" % (quote(SECRET, safe=""), srv.port), expected_password=SECRET)
        )
    assert codes(result) == []
    assert result["authenticated"] is True
    assert result["server_version"]
    assert result["latency_ms"] is not None
    assert_no_secret(result, SECRET)


def test_unresolvable_service_is_a_finding(monkeypatch):
    monkeypatch.setattr(
        probe, "resolve", lambda *a: (None, "Compose project 'lab' has no container for service 'redis'")
    )
    monkeypatch.setattr(probe, "not_running", lambda *a: None)
    result = redis_auth.run(StubModule(url="redis://:x1y2z3@redis:6379/0", compose_project="lab"))
    assert codes(result) == ["REDIS_SERVICE_UNRESOLVED"]
    assert result["resolved_address"] is None


@pytest.mark.parametrize(
    ("password", "severity"),
    [("pa/ss#word", "critical"), ("p@ss:word", "medium"), ("100%pure", "medium")],
)
def test_unencoded_password_finding(password, severity):
    port = closed_port()
    result = redis_auth.run(StubModule(url="redis://:%s@127.0.0.1:%d/0" % (password, port)))
    found = {f["code"]: f for f in result["findings"]}
    assert found["REDIS_URL_PASSWORD_NOT_ENCODED"]["severity"] == severity
    assert "REDIS_UNREACHABLE" in found
    assert "Error 111" in found["REDIS_UNREACHABLE"]["message"]
    assert result["resolved_address"] == "127.0.0.1:%d" % port  # the intended host, despite the raw '/'
    assert_no_secret(result, password)


def test_missing_password_in_url_counts_as_mismatch():
    result = redis_auth.run(StubModule(url="redis://127.0.0.1:%d/0" % closed_port(), expected_password=SECRET))
    mismatch = next(f for f in result["findings"] if f["code"] == "REDIS_URL_PASSWORD_MISMATCH")
    assert mismatch["evidence"]["url_has_password"] is False


def test_parts_instead_of_url():
    with redis_server(SECRET) as srv:
        ok = redis_auth.run(StubModule(host=srv.host, port=srv.port, password=SECRET))
        noauth = redis_auth.run(StubModule(host=srv.host, port=srv.port))
    assert ok["authenticated"] is True
    assert ok["target"] == "redis://:********@127.0.0.1:%d/0" % srv.port
    assert noauth["authenticated"] is False
    assert "NOAUTH" in noauth["findings"][0]["message"]
    assert_no_secret(ok, SECRET)


def test_msg_is_one_line_naming_codes_and_target():
    result = redis_auth.run(StubModule(url="redis://:%s@127.0.0.1:%d/0" % (PLACEHOLDER, closed_port())))
    assert "\n" not in result["msg"]
    assert result["msg"].startswith("redis_auth: REDIS_UNREACHABLE at redis://:********@127.0.0.1:")
    assert PLACEHOLDER not in result["msg"]


def test_a_stopped_service_is_unreachable_not_unresolved(monkeypatch):
    monkeypatch.setattr(probe, "resolve", lambda *a: (None, "no running container"))
    monkeypatch.setattr(probe, "not_running", lambda *a: "container lab-redis-1 is exited")
    result = redis_auth.run(StubModule(url="redis://:x1y2z3@redis:6379/0", compose_project="lab"))
    assert codes(result) == ["REDIS_UNREACHABLE"]
    assert result["msg"].startswith("redis_auth: REDIS_UNREACHABLE at redis://:********@redis:6379/0: Redis does not")
    assert "container lab-redis-1 is exited" in result["msg"] and "docker compose up -d redis" in result["msg"]
    assert "x1y2z3" not in repr(result)
