"""The lab MongoDB stand-in, exercised with the real PyMongo driver."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure, ServerSelectionTimeoutError

from tests.helpers.servers import MONGO_LAB_SERVER, closed_port, mongo_lab_server

USER = "lab_admin"
PASSWORD = "S3cret!Pass@word:/%x"  # reserved characters on purpose


def client(srv, **kwargs) -> MongoClient:
    kwargs.setdefault("serverSelectionTimeoutMS", 3000)
    return MongoClient(srv.host, srv.port, directConnection=True, **kwargs)


@pytest.fixture(scope="module")
def server():
    with mongo_lab_server(USER, PASSWORD, max_connections=50) as srv:
        yield srv


def test_right_credentials_ping(server):
    c = client(server, username=USER, password=PASSWORD, authSource="admin")
    try:
        assert c.admin.command("ping")["ok"] == 1
    finally:
        c.close()


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-1"])
def test_each_scram_mechanism(server, mechanism):
    c = client(server, username=USER, password=PASSWORD, authSource="admin", authMechanism=mechanism)
    try:
        assert c.admin.command("ping")["ok"] == 1
    finally:
        c.close()


def test_uri_with_percent_encoded_password(server):
    from urllib.parse import quote

    uri = "mongodb://%s:%s@%s:%d/copilotos?authSource=admin" % (
        USER,
        quote(PASSWORD, safe=""),
        server.host,
        server.port,
    )
    c = MongoClient(uri, serverSelectionTimeoutMS=3000)
    try:
        assert c.admin.command("ping")["ok"] == 1
    finally:
        c.close()


@pytest.mark.parametrize(
    ("user", "password", "auth_source"),
    [(USER, "wrong-password", "admin"), ("nobody", PASSWORD, "admin"), (USER, PASSWORD, "copilotos")],
    ids=["wrong-password", "unknown-user", "wrong-auth-source"],
)
def test_bad_credentials_fail_with_code_18(server, user, password, auth_source):
    c = client(server, username=user, password=password, authSource=auth_source)
    try:
        with pytest.raises(OperationFailure) as info:
            c.admin.command("ping")
        assert info.value.code == 18
        assert "Authentication failed." in str(info.value)
    finally:
        c.close()


def test_no_credentials_ping_is_unauthorized(server):
    c = client(server)
    try:
        with pytest.raises(OperationFailure) as info:
            c.admin.command("ping")
        assert info.value.code == 13
        # hello and buildInfo need no authentication, like mongod
        assert c.admin.command("buildInfo")["version"] == "7.0.0-lab"
        with pytest.raises(OperationFailure) as info:
            c.admin.command("serverStatus")
        assert info.value.code == 13
    finally:
        c.close()


def test_ping_without_auth_option_matches_mongod():
    with mongo_lab_server(USER, PASSWORD, extra_args=["--ping-without-auth"]) as srv:
        c = client(srv)
        try:
            assert c.admin.command("ping")["ok"] == 1
            with pytest.raises(OperationFailure):
                c.admin.command("serverStatus")
        finally:
            c.close()


def test_server_status_connections_track_open_sockets(server):
    c = client(server, username=USER, password=PASSWORD, authSource="admin")
    extra = [client(server, username=USER, password=PASSWORD, authSource="admin") for _ in range(3)]
    try:
        for e in extra:
            e.admin.command("ping")
        status = c.admin.command("serverStatus")
        conns = status["connections"]
        assert status["version"] == "7.0.0-lab"
        # each client holds a monitor socket and at least one pool socket
        assert conns["current"] >= 8
        assert conns["available"] == 50 - conns["current"]
        assert conns["totalCreated"] >= conns["current"]
        before = conns["current"]
        for e in extra:
            e.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            now = c.admin.command("serverStatus")["connections"]
            if now["current"] <= before - 6:
                break
            time.sleep(0.1)
        assert now["current"] <= before - 6
        assert now["available"] == 50 - now["current"]
    finally:
        c.close()
        for e in extra:
            e.close()


def test_build_info_and_hello(server):
    c = client(server, username=USER, password=PASSWORD, authSource="admin")
    try:
        info = c.server_info()
        assert info["version"] == "7.0.0-lab"
        assert info["versionArray"][:3] == [7, 0, 0]
        hello = c.admin.command("hello")
        assert hello["isWritablePrimary"] is True
        assert hello["maxWireVersion"] == 21
        assert "topologyVersion" not in hello  # polling monitor, not streaming
        mechs = c.admin.command("hello", saslSupportedMechs="admin.%s" % USER)["saslSupportedMechs"]
        assert set(mechs) == {"SCRAM-SHA-1", "SCRAM-SHA-256"}
        assert "saslSupportedMechs" not in c.admin.command("hello", saslSupportedMechs="admin.nobody")
        assert "admin" in c.list_database_names()
    finally:
        c.close()


def _wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_max_connections_rejects_extra_sockets():
    import socket

    with mongo_lab_server(USER, PASSWORD, max_connections=2) as srv:
        # the helper's readiness probe was a connection too: let it end first
        _wait_for(lambda: "Connection ended" in srv.log())
        socks = [socket.create_connection((srv.host, srv.port)) for _ in range(2)]
        try:
            time.sleep(0.2)
            third = socket.create_connection((srv.host, srv.port))
            third.settimeout(2)
            assert third.recv(1) == b""  # closed by the server
            third.close()
            assert "too many open connections" in srv.log()
        finally:
            for s in socks:
                s.close()


def test_log_lines_are_json_and_never_contain_the_password():
    from urllib.parse import quote

    with mongo_lab_server(USER, PASSWORD) as srv:
        for pw in (PASSWORD, "wrong"):
            c = client(srv, username=USER, password=pw, authSource="admin")
            try:
                c.admin.command("ping")
            except OperationFailure:
                pass
            finally:
                c.close()
        time.sleep(0.2)
        text = srv.log()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    msgs = [line["msg"] for line in lines]
    assert "Connection accepted" in msgs
    assert "Authentication succeeded" in msgs
    assert "Authentication failed" in msgs
    assert "Connection ended" in msgs
    assert PASSWORD not in text
    assert quote(PASSWORD, safe="") not in text


def test_sigterm_stops_within_one_second_with_open_clients():
    with mongo_lab_server(USER, PASSWORD) as srv:
        c = client(srv, username=USER, password=PASSWORD, authSource="admin")
        c.admin.command("ping")
        start = time.monotonic()
        os.kill(srv.pid, signal.SIGTERM)
        srv.proc.wait(timeout=5)
        assert time.monotonic() - start < 1.0
        assert srv.proc.returncode == 0
        c.close()


def test_stopped_server_gives_server_selection_timeout():
    with mongo_lab_server(USER, PASSWORD) as srv:
        host, port = srv.host, srv.port
    c = MongoClient(host, port, username=USER, password=PASSWORD, serverSelectionTimeoutMS=500)
    try:
        with pytest.raises(ServerSelectionTimeoutError):
            c.admin.command("ping")
    finally:
        c.close()


def _healthcheck(port: int, user: str | None, password: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "MONGO_INITDB_"))}
    if user:
        env["MONGO_INITDB_ROOT_USERNAME"] = user  # the fallback names
    if password:
        env["MONGO_INITDB_ROOT_PASSWORD"] = password
    return subprocess.run(
        [sys.executable, MONGO_LAB_SERVER, "--healthcheck", "--port", str(port)],
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
    )


def test_healthcheck_flag(server):
    ok = _healthcheck(server.port, USER, PASSWORD)
    assert ok.returncode == 0, ok.stderr
    bad = _healthcheck(server.port, USER, "not-it")
    assert bad.returncode == 1
    assert "Authentication failed" in bad.stderr
    assert "not-it" not in bad.stdout + bad.stderr


def test_no_credentials_configured_disables_auth():
    with mongo_lab_server() as srv:
        c = client(srv)
        try:
            assert c.admin.command("ping")["ok"] == 1
            assert "connections" in c.admin.command("serverStatus")
        finally:
            c.close()


def test_hello_flag_is_the_cheap_docker_healthcheck(server):
    ok = subprocess.run([sys.executable, MONGO_LAB_SERVER, "--hello", "--port", str(server.port)],
                        capture_output=True, text=True, timeout=20)
    assert ok.returncode == 0 and ok.stdout.strip() == "hello: ok", ok.stderr
    port = closed_port()
    down = subprocess.run([sys.executable, MONGO_LAB_SERVER, "--hello", "--port", str(port)],
                          capture_output=True, text=True, timeout=20)
    assert down.returncode == 1 and "hello:" in down.stderr
