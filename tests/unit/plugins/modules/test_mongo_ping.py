"""mongo_ping: finding codes, error classification, client settings (run() with a stub module)."""

from __future__ import annotations

from urllib.parse import quote

import mongo_ping
import pytest
from ansible.module_utils import copilotos_mongo
from ansible.module_utils import copilotos_probe as probe
from pymongo import errors

from tests.helpers.servers import closed_port, mongo_lab_server

USER = "copilotos"
SECRET = "Unit+Mongo@pw/1"


class StubModule:
    def __init__(self, **params):
        defaults = {
            "uri": None,
            "host": None,
            "port": None,
            "username": None,
            "password": None,
            "auth_source": None,
            "database": None,
            "tls": None,
            "tls_ca_cert": None,
            "server_selection_timeout_ms": 1500,
            "server_status": False,
            "max_pool_size": None,
            "api_replicas": 1,
            "configured_server_selection_timeout_ms": None,
            "min_server_selection_timeout_ms": 10000,
            "mode": "audit",
            "compose_project": None,
            "service": "mongodb",
            "docker_host": None,
        }
        defaults.update(params)
        self.params = defaults


def codes(result):
    return [f["code"] for f in result["findings"]]


def assert_no_secret(result, *secrets):
    text = repr(result)
    for secret in secrets:
        assert secret not in text
        assert quote(secret, safe="") not in text


def good_uri(port, password=SECRET):
    return "mongodb://%s:%s@127.0.0.1:%d/copilotos?authSource=admin" % (USER, quote(password, safe=""), port)


@pytest.fixture(scope="module")
def server():
    with mongo_lab_server(USER, SECRET, max_connections=120) as srv:
        yield srv


# -- classification ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("exc", "code", "needle"),
    [
        (errors.OperationFailure("Authentication failed.", code=18), "MONGO_AUTH_FAILED", "code 18"),
        (errors.OperationFailure("requires authentication", code=13), "MONGO_AUTH_FAILED", "code 13"),
        (
            errors.ServerSelectionTimeoutError("h:1: [Errno 111] Connection refused, Timeout: 1s"),
            "MONGO_UNREACHABLE",
            "connection refused",
        ),
        (
            errors.ServerSelectionTimeoutError("mongodb:27017: [Errno -2] Name or service not known"),
            "MONGO_DNS_FAILURE",
            "DNS",
        ),
        (
            errors.ServerSelectionTimeoutError("mongodb:27017: [Errno -3] Temporary failure in name resolution"),
            "MONGO_DNS_FAILURE",
            "DNS",
        ),
        (errors.ServerSelectionTimeoutError("h:1: timed out, Timeout: 1s"), "MONGO_UNREACHABLE", "timed out"),
        (
            errors.ServerSelectionTimeoutError("h:1: SSL handshake failed: [SSL: WRONG_VERSION_NUMBER]"),
            "MONGO_TLS_ERROR",
            "TLS",
        ),
        (
            errors.ConfigurationError("The DNS query name does not exist: _mongodb._tcp.x.example."),
            "MONGO_DNS_FAILURE",
            "DNS",
        ),
    ],
)
def test_classify_error(exc, code, needle):
    got, why = copilotos_mongo.classify_error(exc, False)
    assert got == code
    assert needle in why


def test_client_kwargs_direct_connection_to_resolved_address():
    parsed = copilotos_mongo.parse_mongo_uri("mongodb://u:p%40w@mongodb:27017/copilotos?authSource=admin&replicaSet=rs0")
    kwargs = copilotos_mongo.client_kwargs(parsed, StubModule().params, "172.18.0.4")
    assert kwargs["host"] == "172.18.0.4"
    assert kwargs["port"] == 27017
    assert kwargs["directConnection"] is True
    assert "replicaSet" not in kwargs
    assert kwargs["password"] == "p@w"
    assert kwargs["authSource"] == "admin"
    assert kwargs["serverSelectionTimeoutMS"] == 1500


def test_client_kwargs_auth_source_defaults_to_database():
    parsed = copilotos_mongo.parse_mongo_uri("mongodb://u:pw@a:1,b:2/copilotos")
    kwargs = copilotos_mongo.client_kwargs(parsed, StubModule().params, None)
    assert kwargs["host"] == ["a:1", "b:2"]
    assert kwargs["authSource"] == "copilotos"


# -- against the stand-in -----------------------------------------------------------------------
def test_ping_ok_with_server_status_and_pool_finding(server):
    result = mongo_ping.run(
        StubModule(
            uri=good_uri(server.port),
            server_status=True,
            max_pool_size=100,
            api_replicas=2,
            configured_server_selection_timeout_ms=5000,
        )
    )
    assert result["ok"] is True
    assert result["authenticated"] is True
    assert result["server_version"] == "7.0.0-lab"
    assert result["connections"]["available"] == 120 - result["connections"]["current"]
    pool = next(f for f in result["findings"] if f["code"] == "MONGO_POOL_EXCEEDS_AVAILABLE")
    assert pool["severity"] == "medium"
    assert pool["evidence"]["pool_demand"] == 200
    assert pool["evidence"]["available"] == result["connections"]["available"]
    low = next(f for f in result["findings"] if f["code"] == "MONGO_SERVER_SELECTION_TIMEOUT_LOW")
    assert low["evidence"] == {"configured_ms": 5000, "minimum_ms": 10000}
    assert_no_secret(result, SECRET)


def test_pool_within_headroom_is_not_a_finding(server):
    result = mongo_ping.run(StubModule(uri=good_uri(server.port), server_status=True, max_pool_size=50))
    assert codes(result) == []
    assert result["msg"].startswith("mongo_ping: ping ok at mongodb://copilotos:********@127.0.0.1:")


def test_wrong_password(server):
    result = mongo_ping.run(StubModule(uri=good_uri(server.port, "wrong-one")))
    assert codes(result) == ["MONGO_AUTH_FAILED"]
    assert result["ok"] is False
    assert "code 18" in result["findings"][0]["message"]
    assert_no_secret(result, "wrong-one", SECRET)


def test_no_credentials_is_unauthorized_on_the_stand_in(server):
    result = mongo_ping.run(StubModule(host=server.host, port=server.port))
    assert codes(result) == ["MONGO_AUTH_FAILED"]
    assert "code 13" in result["findings"][0]["message"]


def test_unencoded_password_is_critical_and_still_tested(server):
    raw = "mongodb://%s:%s@127.0.0.1:%d/copilotos?authSource=admin" % (USER, SECRET, server.port)
    result = mongo_ping.run(StubModule(uri=raw))
    found = {f["code"]: f for f in result["findings"]}
    assert found["MONGO_URI_PASSWORD_NOT_ENCODED"]["severity"] == "critical"
    # '+' reads as a space, exactly as PyMongo would, so authentication fails
    assert "MONGO_AUTH_FAILED" in found
    assert_no_secret(result, SECRET)


def test_parts_with_auth_source(server):
    result = mongo_ping.run(
        StubModule(host=server.host, port=server.port, username=USER, password=SECRET, auth_source="admin")
    )
    assert result["ok"] is True
    assert result["target"] == "mongodb://copilotos:********@127.0.0.1:%d/?authSource=admin" % server.port


def test_refused():
    port = closed_port()
    result = mongo_ping.run(
        StubModule(uri="mongodb://u:%s@127.0.0.1:%d/" % (quote(SECRET, safe=""), port), server_selection_timeout_ms=500)
    )
    assert codes(result) == ["MONGO_UNREACHABLE"]
    assert "connection refused" in result["findings"][0]["message"]
    assert_no_secret(result, SECRET)


def test_unparseable():
    result = mongo_ping.run(StubModule(uri="mongodb://:hunter2secret@h/"))
    assert codes(result) == ["MONGO_URI_UNPARSEABLE"]
    assert_no_secret(result, "hunter2secret")


def test_localhost_with_compose_project_resolves_the_service(server, monkeypatch):
    monkeypatch.setattr(probe, "resolve", lambda dh, project, service: (server.host, ""))
    uri = "mongodb://%s:%s@localhost:%d/copilotos?authSource=admin" % (USER, quote(SECRET, safe=""), server.port)
    result = mongo_ping.run(StubModule(uri=uri, compose_project="lab"))
    assert codes(result) == ["MONGO_URI_LOCALHOST"]
    assert result["ok"] is True
    assert result["resolved_address"] == "127.0.0.1:%d" % server.port
