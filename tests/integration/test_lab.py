"""The lab reproduces the production incident, on two hosts side by side."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pymongo
import pytest
import redis
import yaml

from tests.helpers.lab import (
    LabHost,
    container_env,
    docker_inspect,
    lab_down,
    lab_secrets,
    make_inventory,
    read_env_file,
    run_playbook,
)

pytestmark = [pytest.mark.lab, pytest.mark.slow]

SERVICES = ("api", "web", "mongodb", "redis")
EXOTIC = {
    "copilotos_redis_password": " lab #pw 'single' \"double\" $HOME ${X} back\\ ",
    "copilotos_mongo_password": "m@ngo:pw/% $1 #x\\",
}


@pytest.fixture(scope="module")
def two_labs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[LabHost], Path]]:
    work = tmp_path_factory.mktemp("lab")
    inventory, hosts = make_inventory(work, ["laba", "labb"])
    # labb's operator chose passwords that an unquoted env file would mangle
    # (blanks at the ends, " #", quotes, "$", a trailing backslash): the lab
    # writes them quoted, so Redis and the Mongo stand-in run with exactly these.
    exotic = inventory / "host_vars" / "labb" / "exotic.yml"
    exotic.parent.mkdir(parents=True)
    exotic.write_text("---\n" + yaml.safe_dump(EXOTIC))
    first = run_playbook("playbooks/lab.yml", inventory, work)
    try:
        assert first.rc == 0, first.stdout[-3000:]
        for host in hosts:
            assert first.failed(host.name) == 0
            assert first.changed(host.name) > 0
        yield inventory, hosts, work
    finally:
        lab_down(inventory, work)


def container_address(name: str) -> str:
    networks = docker_inspect(name)["NetworkSettings"]["Networks"]
    return next(iter(networks.values()))["IPAddress"]


def test_all_containers_up_and_healthy(two_labs: tuple[Path, list[LabHost], Path]) -> None:
    _, hosts, _ = two_labs
    for host in hosts:
        for service in SERVICES:
            state = docker_inspect(host.container(service))["State"]
            assert state["Status"] == "running", (host.name, service)
            assert state["Health"]["Status"] == "healthy", (host.name, service)


def test_health_is_green_while_redis_fails(two_labs: tuple[Path, list[LabHost], Path]) -> None:
    """As upstream: /api/health checks only the database, so a green health check proves nothing about Redis."""
    _, hosts, _ = two_labs
    for host in hosts:
        with urllib.request.urlopen(host.api + "/api/health", timeout=10) as resp:
            body = json.loads(resp.read().decode())
            assert resp.status == 200
        assert body["status"] == "healthy" and set(body["checks"]) == {"database"}, body
        for probe, expected in (("/api/health/live", "alive"), ("/api/health/ready", "ready")):
            with urllib.request.urlopen(host.api + probe, timeout=10) as resp:
                assert json.loads(resp.read().decode())["status"] == expected
        logs = subprocess.run(["docker", "logs", host.container("api")], capture_output=True, text=True, check=True)
        assert "Redis cache connection failed" in logs.stdout
        assert "Error 111 connecting to localhost:6379. Connection refused." in logs.stdout


def test_cors_preflight_from_production_origin_is_refused(two_labs: tuple[Path, list[LabHost], Path]) -> None:
    _, hosts, _ = two_labs
    for host in hosts:
        req = urllib.request.Request(host.api + "/api/health", method="OPTIONS", headers={
            "Origin": "https://copiloto.saptiva.com", "Access-Control-Request-Method": "POST"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                headers = resp.headers
        except urllib.error.HTTPError as exc:
            headers = exc.headers
        assert headers.get("Access-Control-Allow-Origin") is None


def test_incident_values_in_env_file(two_labs: tuple[Path, list[LabHost], Path]) -> None:
    inventory, hosts, _ = two_labs
    for host in hosts:
        values = read_env_file(host.env_file)
        assert values["REDIS_URL"] == "redis://:redis_password_change_me@redis:6379/0"
        secrets = lab_secrets(inventory, host.name)
        assert values["REDIS_PASSWORD"] == secrets["copilotos_redis_password"]
        # What Compose really hands the containers (its own env-file parser).
        assert container_env(host.container("redis"))["REDIS_PASSWORD"] == secrets["copilotos_redis_password"]
        assert container_env(host.container("mongodb"))["MONGODB_PASSWORD"] == secrets["copilotos_mongo_password"]
        if host.name == "labb":
            assert {k: secrets[k] for k in EXOTIC} == EXOTIC
        assert values["SAPTIVA_CONNECT_TIMEOUT"] == "30"
        assert values["SAPTIVA_READ_TIMEOUT"] == "60"
        assert values["DB_MAX_POOL_SIZE"] == "100"
        assert values["RATE_LIMIT_REQUESTS_PER_MINUTE"] == "200"
        assert "copiloto.saptiva.com" not in values["CORS_ORIGINS"]
        assert oct(host.env_file.stat().st_mode & 0o777) == "0o600"
        # The api does not even use the file's REDIS_URL: compose overrides it.
        assert container_env(host.container("api"))["REDIS_URL"] == "redis://localhost:6379/0"


def test_redis_refuses_url_password_and_accepts_real_one(two_labs: tuple[Path, list[LabHost], Path]) -> None:
    inventory, hosts, _ = two_labs
    for host in hosts:
        address = container_address(host.container("redis"))
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis(host=address, password="redis_password_change_me", socket_timeout=5).ping()
        real = lab_secrets(inventory, host.name)["copilotos_redis_password"]
        assert redis.Redis(host=address, password=real, socket_timeout=5).ping() is True


def test_mongodb_answers_pymongo_ping_with_scram(two_labs: tuple[Path, list[LabHost], Path]) -> None:
    inventory, hosts, _ = two_labs
    for host in hosts:
        secrets = lab_secrets(inventory, host.name)
        client: pymongo.MongoClient = pymongo.MongoClient(
            host=container_address(host.container("mongodb")), port=27017, directConnection=True,
            username=secrets["copilotos_mongo_username"], password=secrets["copilotos_mongo_password"],
            authSource="admin", authMechanism="SCRAM-SHA-256", serverSelectionTimeoutMS=5000)
        try:
            assert client.admin.command("ping")["ok"] == 1.0
        finally:
            client.close()


def test_second_run_changes_nothing(two_labs: tuple[Path, list[LabHost], Path]) -> None:
    inventory, hosts, work = two_labs
    before = {h.name: docker_inspect(h.container("api"))["State"]["StartedAt"] for h in hosts}
    again = run_playbook("playbooks/lab.yml", inventory, work)
    assert again.rc == 0, again.stdout[-3000:]
    for host in hosts:
        assert again.changed(host.name) == 0
        assert docker_inspect(host.container("api"))["State"]["StartedAt"] == before[host.name]


def test_absent_leaves_nothing(tmp_path: Path) -> None:
    inventory, hosts = make_inventory(tmp_path, ["labgone"])
    up = run_playbook("playbooks/lab.yml", inventory, tmp_path)
    assert up.rc == 0, up.stdout[-3000:]
    down = lab_down(inventory, tmp_path)
    assert down.rc == 0 and down.changed("labgone") > 0
    host = hosts[0]
    names = subprocess.run(["docker", "ps", "-a", "--filter", "label=com.docker.compose.project=" + host.project,
                            "--format", "{{.Names}}"], capture_output=True, text=True, check=True).stdout
    assert names.strip() == ""
    nets = subprocess.run(["docker", "network", "ls", "--filter", "name=" + host.project, "--format", "{{.Name}}"],
                          capture_output=True, text=True, check=True).stdout
    assert nets.strip() == ""
    assert not host.project_dir.exists()
    again = lab_down(inventory, tmp_path)
    assert again.rc == 0 and again.changed("labgone") == 0
