"""redis_auth and mongo_ping run through Ansible itself against real local servers.

Modules run as ``ansible localhost -m <module>`` from the repository root, so
ansible.cfg's ``library`` and ``module_utils`` apply. Secrets reach Ansible
only through an extra-vars file and Jinja references in the arguments, as a
playbook would pass them. A real redis-server and the lab's MongoDB stand-in
listen on 127.0.0.1. The ``docker`` tests also start containers from the lab
image with Compose labels, to check the module's service resolution.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.helpers.servers import closed_port, mongo_lab_server, redis_server

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE = ROOT / ".venv" / "bin" / "ansible"
ANSIBLE_PLAYBOOK = ROOT / ".venv" / "bin" / "ansible-playbook"
PYTHON = ROOT / ".venv" / "bin" / "python"

# Reserved characters on purpose: they must be percent-encoded in URLs.
REDIS_SECRET = "It!Redis@Pw:" + secrets.token_hex(4) + "/#?"
PLACEHOLDER = "redis_password_change_me"
MONGO_USER = "copilotos"
MONGO_SECRET = "It+Mongo@Pw%" + secrets.token_hex(4) + "/x"


def secret_forms(*values: str) -> list[str]:
    forms = set()
    for value in values:
        forms.update({value, quote(value, safe=""), quote(value, safe="!~*'()")})
    return sorted(forms)


class Run:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        match = re.search(r"^localhost \| (\S+)(?: \| rc=\d+)? => (\{.*)", proc.stdout, re.M | re.S)
        assert match, "no result in ansible output:\n%s\n%s" % (proc.stdout[-3000:], proc.stderr[-3000:])
        self.status = match.group(1)
        self.result: dict[str, Any] = json.JSONDecoder().raw_decode(match.group(2))[0]

    @property
    def codes(self) -> list[str]:
        return [f["code"] for f in self.result.get("findings", [])]

    def text(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def vars_file(tmp_path):
    def write(values: dict[str, Any]) -> str:
        path = tmp_path / ("vars-%s.json" % secrets.token_hex(3))
        path.write_text(json.dumps(values))
        path.chmod(0o600)
        return str(path)

    return write


def ansible(module: str, args: dict[str, Any], extra_vars: str, *flags: str) -> Run:
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_DEPRECATION_WARNINGS="0")
    cmd = [
        str(ANSIBLE),
        "localhost",
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        "ansible_python_interpreter=%s" % PYTHON,
        "-e",
        "@" + extra_vars,
        "-m",
        module,
        "-a",
        json.dumps(args),
        *flags,
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=180)
    return Run(proc)


def redis_url(port: int, password: str | None, host: str = "127.0.0.1") -> str:
    auth = ":%s@" % quote(password, safe="") if password is not None else ""
    return "redis://%s%s:%d/0" % (auth, host, port)


def mongo_uri(port: int, password: str, host: str = "127.0.0.1") -> str:
    return "mongodb://%s:%s@%s:%d/copilotos?authSource=admin" % (MONGO_USER, quote(password, safe=""), host, port)


# -- redis_auth ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def redis_srv():
    with redis_server(REDIS_SECRET) as srv:
        yield srv


def test_redis_right_password(redis_srv, vars_file):
    ev = vars_file({"redis_url": redis_url(redis_srv.port, REDIS_SECRET), "redis_password": REDIS_SECRET})
    run = ansible("redis_auth", {"url": "{{ redis_url }}", "expected_password": "{{ redis_password }}"}, ev)
    assert run.status == "SUCCESS", run.text()
    assert run.result["changed"] is False
    assert run.result["reachable"] is True
    assert run.result["authenticated"] is True
    assert run.result["server_version"]
    assert run.result["latency_ms"] >= 0
    assert run.codes == []
    assert run.result["target"] == "redis://:********@127.0.0.1:%d/0" % redis_srv.port


def test_redis_wrong_password_enforce_fails_with_one_line_msg(redis_srv, vars_file):
    ev = vars_file({"redis_url": redis_url(redis_srv.port, PLACEHOLDER), "redis_password": REDIS_SECRET})
    run = ansible("redis_auth", {"url": "{{ redis_url }}", "expected_password": "{{ redis_password }}"}, ev)
    assert run.status == "FAILED!"
    assert run.rc != 0
    msg = run.result["msg"]
    assert "\n" not in msg
    assert "REDIS_URL_PASSWORD_MISMATCH" in msg
    assert "REDIS_AUTH_FAILED" in msg
    assert "redis://:********@127.0.0.1:%d/0" % redis_srv.port in msg
    assert run.result["reachable"] is True
    assert run.result["authenticated"] is False
    assert run.result["expected_password_authenticated"] is True


def test_redis_wrong_password_audit_reports_without_failing(redis_srv, vars_file):
    ev = vars_file({"redis_url": redis_url(redis_srv.port, PLACEHOLDER), "redis_password": REDIS_SECRET})
    args = {"url": "{{ redis_url }}", "expected_password": "{{ redis_password }}", "mode": "audit"}
    run = ansible("redis_auth", args, ev)
    assert run.status == "SUCCESS"
    assert run.result.get("failed", False) is False
    assert set(run.codes) == {"REDIS_URL_PASSWORD_MISMATCH", "REDIS_AUTH_FAILED"}
    auth = next(f for f in run.result["findings"] if f["code"] == "REDIS_AUTH_FAILED")
    assert "WRONGPASS" in auth["message"]
    assert auth["severity"] == "critical"


def test_redis_missing_password(redis_srv, vars_file):
    ev = vars_file({"redis_url": redis_url(redis_srv.port, None)})
    run = ansible("redis_auth", {"url": "{{ redis_url }}", "mode": "audit"}, ev)
    assert run.codes == ["REDIS_AUTH_FAILED"]
    assert "NOAUTH" in run.result["findings"][0]["message"]
    assert run.result["reachable"] is True


def test_redis_unencoded_password_is_reported_and_still_tested(redis_srv, vars_file):
    raw = "redis://:%s@127.0.0.1:%d/0" % (REDIS_SECRET, redis_srv.port)
    ev = vars_file({"redis_url": raw})
    run = ansible("redis_auth", {"url": "{{ redis_url }}", "mode": "audit"}, ev)
    found = {f["code"]: f for f in run.result["findings"]}
    assert found["REDIS_URL_PASSWORD_NOT_ENCODED"]["severity"] == "critical"  # '/', '#', '?'
    assert run.result["authenticated"] is True  # the intended password works
    assert run.result["resolved_address"] == "127.0.0.1:%d" % redis_srv.port


def test_redis_stopped_is_connection_refused(vars_file):
    with redis_server(REDIS_SECRET) as srv:
        port = srv.port
    ev = vars_file({"redis_url": redis_url(port, REDIS_SECRET)})
    run = ansible("redis_auth", {"url": "{{ redis_url }}"}, ev)
    assert run.status == "FAILED!"
    assert run.codes == ["REDIS_UNREACHABLE"]
    assert "Error 111" in run.result["msg"]
    assert run.result["reachable"] is False


def test_redis_check_mode_gives_the_same_answer(redis_srv, vars_file):
    ev = vars_file({"redis_url": redis_url(redis_srv.port, REDIS_SECRET)})
    run = ansible("redis_auth", {"url": "{{ redis_url }}"}, ev, "--check")
    assert run.status == "SUCCESS"
    assert run.result["authenticated"] is True
    assert run.result["changed"] is False


def test_redis_bad_arguments_are_rejected(vars_file):
    ev = vars_file({})
    run = ansible("redis_auth", {"url": "redis://redis", "host": "redis"}, ev)
    assert run.status == "FAILED!"
    assert "mutually exclusive" in run.result["msg"]
    run = ansible("redis_auth", {"mode": "audit"}, ev)
    assert "one of the following is required" in run.result["msg"]


# -- mongo_ping ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mongo_srv():
    with mongo_lab_server(MONGO_USER, MONGO_SECRET, max_connections=150) as srv:
        yield srv


def test_mongo_right_credentials_with_server_status(mongo_srv, vars_file):
    ev = vars_file({"mongo_uri": mongo_uri(mongo_srv.port, MONGO_SECRET)})
    args = {
        "uri": "{{ mongo_uri }}",
        "server_status": True,
        "max_pool_size": 100,
        "api_replicas": 2,
        "configured_server_selection_timeout_ms": 5000,
    }
    run = ansible("mongo_ping", args, ev)
    assert run.status == "SUCCESS", run.text()  # medium findings do not fail enforce
    assert run.result["ok"] is True
    assert run.result["changed"] is False
    assert run.result["server_version"] == "7.0.0-lab"
    conns = run.result["connections"]
    assert conns["current"] >= 1
    assert conns["available"] == 150 - conns["current"]
    assert set(run.codes) == {"MONGO_POOL_EXCEEDS_AVAILABLE", "MONGO_SERVER_SELECTION_TIMEOUT_LOW"}
    pool = next(f for f in run.result["findings"] if f["code"] == "MONGO_POOL_EXCEEDS_AVAILABLE")
    assert pool["evidence"]["pool_demand"] == 200
    assert pool["severity"] == "medium"


def test_mongo_wrong_credentials(mongo_srv, vars_file):
    ev = vars_file({"mongo_uri": mongo_uri(mongo_srv.port, "not-" + MONGO_SECRET)})
    run = ansible("mongo_ping", {"uri": "{{ mongo_uri }}"}, ev)
    assert run.status == "FAILED!"
    assert run.codes == ["MONGO_AUTH_FAILED"]
    assert "code 18" in run.result["msg"]
    assert run.result["ok"] is False


def test_mongo_stopped(vars_file):
    with mongo_lab_server(MONGO_USER, MONGO_SECRET) as srv:
        port = srv.port
    ev = vars_file({"mongo_uri": mongo_uri(port, MONGO_SECRET)})
    run = ansible("mongo_ping", {"uri": "{{ mongo_uri }}", "server_selection_timeout_ms": 1000, "mode": "audit"}, ev)
    assert run.status == "SUCCESS"
    assert run.codes == ["MONGO_UNREACHABLE"]
    assert "connection refused" in run.result["findings"][0]["message"]


def test_mongo_parts_and_check_mode(mongo_srv, vars_file):
    ev = vars_file({"mongo_password": MONGO_SECRET})
    args = {
        "host": "127.0.0.1",
        "port": mongo_srv.port,
        "username": MONGO_USER,
        "password": "{{ mongo_password }}",
        "auth_source": "admin",
    }
    run = ansible("mongo_ping", args, ev, "--check")
    assert run.status == "SUCCESS", run.text()
    assert run.result["ok"] is True
    assert run.result["authenticated"] is True


# -- no secret anywhere, even with -vvv and --diff ---------------------------------------------
def test_no_secret_in_verbose_output(redis_srv, mongo_srv, vars_file):
    values = {
        "good_redis_url": redis_url(redis_srv.port, REDIS_SECRET),
        "bad_redis_url": redis_url(redis_srv.port, PLACEHOLDER),
        "raw_redis_url": "redis://:%s@127.0.0.1:%d/0" % (REDIS_SECRET, redis_srv.port),
        "refused_redis_url": redis_url(closed_port(), REDIS_SECRET),
        "redis_password": REDIS_SECRET,
        "good_mongo_uri": mongo_uri(mongo_srv.port, MONGO_SECRET),
        "bad_mongo_uri": mongo_uri(mongo_srv.port, "wrong" + MONGO_SECRET[::-1]),
        "raw_mongo_uri": "mongodb://%s:%s@127.0.0.1:%d/copilotos" % (MONGO_USER, MONGO_SECRET, mongo_srv.port),
        "mongo_password": MONGO_SECRET,
    }
    ev = vars_file(values)
    runs = []
    for url in ("good_redis_url", "bad_redis_url", "raw_redis_url", "refused_redis_url"):
        for mode in ("enforce", "audit"):
            args = {"url": "{{ %s }}" % url, "expected_password": "{{ redis_password }}", "mode": mode}
            runs.append(ansible("redis_auth", args, ev, "-vvv", "--diff"))
    for uri in ("good_mongo_uri", "bad_mongo_uri", "raw_mongo_uri"):
        args = {"uri": "{{ %s }}" % uri, "server_status": True, "max_pool_size": 100, "mode": "enforce"}
        runs.append(ansible("mongo_ping", args, ev, "-vvv", "--diff"))
    args = {"host": "127.0.0.1", "port": mongo_srv.port, "username": MONGO_USER, "password": "{{ mongo_password }}"}
    runs.append(ansible("mongo_ping", args, ev, "-vvv"))
    statuses = {r.status for r in runs}
    assert statuses == {"SUCCESS", "FAILED!"}  # both paths were exercised
    leaked = secret_forms(REDIS_SECRET, PLACEHOLDER, MONGO_SECRET, "wrong" + MONGO_SECRET[::-1])
    for run in runs:
        text = run.text()
        for form in leaked:
            assert form not in text, "a secret form leaked in:\n%s" % text[-2000:]
        for value in values.values():
            if "://" in value:
                assert value not in text


def test_no_secret_in_playbook_output(redis_srv, mongo_srv, vars_file, tmp_path):
    ev = vars_file(
        {
            "redis_url": redis_url(redis_srv.port, PLACEHOLDER),
            "redis_password": REDIS_SECRET,
            "mongo_uri": mongo_uri(mongo_srv.port, MONGO_SECRET),
        }
    )
    playbook = tmp_path / "check.yml"
    playbook.write_text(
        """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Check Redis (audit)
      redis_auth:
        url: "{{ redis_url }}"
        expected_password: "{{ redis_password }}"
        mode: audit
      register: redis_check
    - name: Check MongoDB
      mongo_ping:
        uri: "{{ mongo_uri }}"
        server_status: true
      register: mongo_check
    - name: Show the results
      ansible.builtin.debug:
        var: item
      loop: "{{ [redis_check, mongo_check] }}"
    - name: Assert
      ansible.builtin.assert:
        that:
          - redis_check is not changed
          - redis_check.findings | map(attribute='code') | list | sort
            == ['REDIS_AUTH_FAILED', 'REDIS_URL_PASSWORD_MISMATCH']
          - redis_check.expected_password_authenticated
          - mongo_check.ok
    - name: Enforce fails
      redis_auth:
        url: "{{ redis_url }}"
        expected_password: "{{ redis_password }}"
      ignore_errors: true
"""
    )
    env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [
            str(ANSIBLE_PLAYBOOK),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            "ansible_python_interpreter=%s" % PYTHON,
            "-e",
            "@" + ev,
            "-vvv",
            "--diff",
            str(playbook),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-3000:]
    assert "failed=0" in text and "ignored=1" in text
    for form in secret_forms(REDIS_SECRET, PLACEHOLDER, MONGO_SECRET):
        assert form not in text


# -- Compose service resolution through the Docker API ------------------------------------------
def _docker_client():
    try:
        import docker

        client = docker.from_env(timeout=20)
        client.ping()
        return client
    except Exception:
        return None


def _lab_image() -> str | None:
    try:
        tag = subprocess.run(
            [str(ROOT / "lab" / "image" / "build.sh"), "--tag"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except Exception:
        return None
    client = _docker_client()
    if not tag or client is None:
        return None
    try:
        client.images.get(tag)
    except Exception:
        # any earlier build of the lab image carries redis-server and the stand-in's libraries
        images = client.images.list(name=tag.split(":")[0])
        return images[0].tags[0] if images and images[0].tags else None
    return tag


@pytest.fixture(scope="module")
def compose_lookalike():
    """Redis and the Mongo stand-in in containers labelled like a Compose project."""
    client = _docker_client()
    image = _lab_image() if client else None
    if client is None or image is None:
        pytest.skip("needs the Docker engine and a built copilotos-lab image")
    project = "ctest%s" % secrets.token_hex(4)
    labels = {"com.docker.compose.project": project}
    network = client.networks.create("%s_default" % project, labels=labels)
    created = []
    try:
        redis_c = client.containers.run(
            image,
            ["sh", "-c", 'exec redis-server --requirepass "$REDIS_PASSWORD" --save "" --appendonly no'],
            detach=True,
            name="%s-redis-1" % project,
            network=network.name,
            environment={"REDIS_PASSWORD": REDIS_SECRET},
            labels={**labels, "com.docker.compose.service": "redis"},
        )
        created.append(redis_c)
        mongo_c = client.containers.run(
            image,
            ["python3", "/opt/lab/app/mongo_lab_server.py"],
            detach=True,
            name="%s-mongodb-1" % project,
            network=network.name,
            environment={
                "MONGODB_USER": MONGO_USER,
                "MONGODB_PASSWORD": MONGO_SECRET,
                "PYTHONPATH": "/opt/lab/mongo-pylib",
                "PYTHONUNBUFFERED": "1",
            },
            volumes={
                str(ROOT / "lab" / "image" / "app" / "mongo_lab_server.py"): {
                    "bind": "/opt/lab/app/mongo_lab_server.py",
                    "mode": "ro",
                }
            },
            labels={**labels, "com.docker.compose.service": "mongodb"},
        )
        created.append(mongo_c)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            rc_redis = redis_c.exec_run(["redis-cli", "-a", REDIS_SECRET, "--no-auth-warning", "ping"]).exit_code
            rc_mongo = mongo_c.exec_run(
                ["python3", "/opt/lab/app/mongo_lab_server.py", "--healthcheck"],
                environment={"PYTHONPATH": "/opt/lab/mongo-pylib"},
            ).exit_code
            if rc_redis == 0 and rc_mongo == 0:
                break
            time.sleep(0.5)
        else:
            pytest.fail("lab lookalike containers did not become ready: %s" % mongo_c.logs()[-1000:])
        for c in created:
            c.reload()
        addr = {
            name: c.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
            for name, c in (("redis", redis_c), ("mongodb", mongo_c))
        }
        yield {"project": project, "addresses": addr}
    finally:
        for c in created:
            try:
                c.remove(force=True)
            except Exception:
                pass
        network.remove()


@pytest.mark.docker
def test_compose_incident_localhost_and_placeholder(compose_lookalike, vars_file):
    project = compose_lookalike["project"]
    ev = vars_file({"redis_url": "redis://:%s@localhost:6379/0" % PLACEHOLDER, "redis_password": REDIS_SECRET})
    args = {
        "url": "{{ redis_url }}",
        "expected_password": "{{ redis_password }}",
        "compose_project": project,
        "mode": "audit",
    }
    run = ansible("redis_auth", args, ev)
    assert set(run.codes) == {"REDIS_URL_LOCALHOST", "REDIS_URL_PASSWORD_MISMATCH", "REDIS_AUTH_FAILED"}
    assert run.result["resolved_address"] == "%s:6379" % compose_lookalike["addresses"]["redis"]
    assert run.result["reachable"] is True
    assert run.result["authenticated"] is False
    assert run.result["expected_password_authenticated"] is True


@pytest.mark.docker
def test_compose_fixed_url_passes(compose_lookalike, vars_file):
    project = compose_lookalike["project"]
    ev = vars_file(
        {
            "redis_url": "redis://:%s@redis:6379/0" % quote(REDIS_SECRET, safe=""),
            "redis_password": REDIS_SECRET,
            "mongo_uri": mongo_uri(27017, MONGO_SECRET, host="mongodb"),
        }
    )
    args = {"url": "{{ redis_url }}", "expected_password": "{{ redis_password }}", "compose_project": project}
    run = ansible("redis_auth", args, ev)
    assert run.status == "SUCCESS", run.text()
    assert run.codes == []
    assert run.result["authenticated"] is True
    args = {"uri": "{{ mongo_uri }}", "compose_project": project, "server_status": True}
    run = ansible("mongo_ping", args, ev)
    assert run.status == "SUCCESS", run.text()
    assert run.result["ok"] is True
    assert run.result["resolved_address"] == "%s:27017" % compose_lookalike["addresses"]["mongodb"]
    assert run.result["connections"]["available"] > 0


@pytest.mark.docker
def test_compose_missing_service_is_a_finding(compose_lookalike, vars_file):
    ev = vars_file({"redis_url": "redis://:x@redis:6379/0"})
    args = {"url": "{{ redis_url }}", "compose_project": compose_lookalike["project"] + "nope", "mode": "audit"}
    run = ansible("redis_auth", args, ev)
    assert run.codes == ["REDIS_SERVICE_UNRESOLVED"]
