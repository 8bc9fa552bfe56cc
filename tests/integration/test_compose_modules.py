"""compose_apply, container_logs and http_probe through ansible-playbook, against real things.

Each test drives one of ``tests/integration/playbooks/compose_*.yml`` with
``-e @vars.json``; the playbook writes the registered result to a JSON file.
Docker tests use a busybox Compose project named ``t-capply-<random>``, torn
down afterwards; http_probe talks to a small HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "tests" / "integration" / "playbooks"
PYTHON = ROOT / ".venv" / "bin" / "python"
ANSIBLE_PLAYBOOK = ROOT / ".venv" / "bin" / "ansible-playbook"
IMAGE = "copilotos-test-busybox:1"

DB_PASSWORD = "Db-Secret-Value-9931"
EMITTER_PASSWORD = "Emitter-Pw-77"
LOG_TOKEN = "Tok3nValue123"
UPSTREAM_TOKEN = "upstream-bearer-5150-token"

DIAGNOSIS_LINE = json.dumps(
    {
        "event": "Redis cache connection failed",
        "level": "warning",
        "error": "Error 111 connecting to localhost:6379. Connection refused.",
        "logger": "src.core.redis_cache",
    }
)

COMPOSE_FILE = """\
services:
  web:
    image: %(image)s
    command: ["sh", "-c", "echo ok > /tmp/index.html && exec httpd -f -p 8080 -h /tmp"]
    env_file: [app.env]
    environment:
      FROM_DOTENV: ${FROM_DOTENV:-unset}
    healthcheck:
      test: ["CMD", "wget", "-q", "-O-", "http://127.0.0.1:8080/"]
      interval: 1s
      timeout: 2s
      retries: 3
  broken:
    image: %(image)s
    command: ["sleep", "3600"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O-", "http://127.0.0.1:9/"]
      interval: 1s
      timeout: 1s
      retries: 2
  emitter:
    image: %(image)s
    command:
      - sh
      - -c
      - |
        rm -f /tmp/late
        echo '%(diagnosis)s'
        echo 'WRONGPASS invalid username-password pair redis://:%(emitter_pw)s@redis:6379/0'
        echo 'api key %(token)s Connection refused'
        echo '{"event": "request completed", "level": "info"}'
        while [ ! -e /tmp/late ]; do sleep 0.2; done
        echo '{"event": "Redis cache connection failed", "level": "warning"}'
        exec sleep 3600
"""


def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


def play(
    playbook: str, variables: dict[str, Any], tmp_path: Path, *flags: str, timeout: int = 300
) -> tuple[dict[str, Any], str]:
    """Run one playbook; return the registered result and the whole output."""
    tag = uuid.uuid4().hex[:8]
    out = tmp_path / ("result-%s.json" % tag)
    varfile = tmp_path / ("vars-%s.json" % tag)
    prefix = {"compose_apply.yml": "capply", "compose_logs.yml": "clogs", "compose_http_probe.yml": "hprobe"}
    varfile.write_text(json.dumps({**variables, "%s_out" % prefix[playbook]: str(out)}))
    varfile.chmod(0o600)
    cmd = [str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "-c", "local"]
    cmd += ["-e", "ansible_python_interpreter=%s" % PYTHON, "-e", "@%s" % varfile, *flags, str(PLAYBOOKS / playbook)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "ANSIBLE_"))}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=timeout)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert out.exists(), output
    return json.loads(out.read_text()), output


# --------------------------------------------------------------------------- docker fixtures


@pytest.fixture(scope="module")
def image() -> str:
    if not docker_available():
        pytest.skip("Docker engine not available")
    proc = subprocess.run(
        [str(ROOT / "tests" / "fixtures" / "busybox_image.sh")], capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


class Project:
    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.name = name

    def compose(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
        return subprocess.run(
            ["docker", "compose", "-p", self.name, *args],
            cwd=self.path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    def inspect(self, service: str) -> dict[str, Any]:
        ids = subprocess.run(
            ["docker", "ps", "-aq", "--filter", "label=com.docker.compose.project=%s" % self.name,
             "--filter", "label=com.docker.compose.service=%s" % service],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        assert len(ids) == 1, ids
        raw = subprocess.run(["docker", "inspect", ids[0]], capture_output=True, text=True, check=True).stdout
        return dict(json.loads(raw)[0])

    def env(self, service: str) -> dict[str, str]:
        return dict(item.partition("=")[::2] for item in self.inspect(service)["Config"]["Env"])

    def apply_vars(self, service: str, **extra: Any) -> dict[str, Any]:
        return {
            "capply_project_dir": str(self.path),
            "capply_project_name": self.name,
            "capply_service": service,
            **extra,
        }


@pytest.fixture
def project(image: str, tmp_path: Path) -> Iterator[Project]:
    path = tmp_path / "proj"
    path.mkdir()
    (path / "docker-compose.yml").write_text(
        COMPOSE_FILE % {"image": image, "diagnosis": DIAGNOSIS_LINE, "emitter_pw": EMITTER_PASSWORD, "token": LOG_TOKEN}
    )
    (path / "app.env").write_text("GREETING=hello\nDB_PASSWORD=%s\n" % DB_PASSWORD)
    proj = Project(path, "t-capply-%s" % uuid.uuid4().hex[:10])
    yield proj
    proj.compose("down", "-t", "1", "-v", "--remove-orphans")


# --------------------------------------------------------------------------- compose_apply


@pytest.mark.docker
def test_compose_apply_lifecycle(project: Project, tmp_path: Path) -> None:
    outputs = []

    first, out = play("compose_apply.yml", project.apply_vars("web"), tmp_path)
    outputs.append(out)
    assert first.get("failed") is not True, first
    assert first["changed"] is True and first["recreated"] is True
    assert first["recreate_reasons"] == ["container_missing"]
    assert first["health"] == "healthy"
    assert first["container_id_before"] is None
    inspected = project.inspect("web")
    assert inspected["State"]["StartedAt"] == first["started_at_after"]
    assert inspected["Config"]["Labels"]["com.docker.compose.config-hash"] == first["config_hash_rendered"]

    second, out = play("compose_apply.yml", project.apply_vars("web"), tmp_path)
    outputs.append(out)
    assert second["changed"] is False and second["recreated"] is False
    assert second["would_recreate"] is False and second["drift_keys"] == []
    assert second["started_at_before"] == second["started_at_after"] == first["started_at_after"]
    assert second["container_id_after"] == first["container_id_after"]
    assert "changed=0" in out

    # Change the env file and the .env interpolation, then do what the diagnosis did:
    # `docker compose restart` keeps the old environment.
    (project.path / "app.env").write_text("GREETING=bonjour\nDB_PASSWORD=%s\n" % DB_PASSWORD)
    (project.path / ".env").write_text("FROM_DOTENV=from-dotenv\n")
    assert project.compose("restart", "web").returncode == 0
    after_restart = project.inspect("web")
    assert project.env("web")["GREETING"] == "hello"
    assert project.env("web")["FROM_DOTENV"] == "unset"

    check, out = play("compose_apply.yml", project.apply_vars("web"), tmp_path, "--check", "--diff")
    outputs.append(out)
    assert check["changed"] is True and check["would_recreate"] is True
    assert check["drift_keys"] == ["FROM_DOTENV", "GREETING"]
    assert "config_hash" in check["recreate_reasons"]
    assert check["config_hash_rendered"] != check["config_hash_before"]
    untouched = project.inspect("web")
    assert untouched["Id"] == after_restart["Id"]
    assert untouched["State"]["StartedAt"] == after_restart["State"]["StartedAt"]
    assert project.env("web")["GREETING"] == "hello"

    applied, out = play("compose_apply.yml", project.apply_vars("web"), tmp_path)
    outputs.append(out)
    assert applied["changed"] is True and applied["recreated"] is True
    assert applied["container_id_after"] != after_restart["Id"]
    assert applied["health"] == "healthy"
    assert project.env("web")["GREETING"] == "bonjour"
    assert project.env("web")["FROM_DOTENV"] == "from-dotenv"
    assert project.inspect("web")["Config"]["Labels"]["com.docker.compose.config-hash"] == check["config_hash_rendered"]

    again, out = play("compose_apply.yml", project.apply_vars("web"), tmp_path)
    outputs.append(out)
    assert again["changed"] is False and again["started_at_after"] == applied["started_at_after"]

    forced, out = play("compose_apply.yml", project.apply_vars("web", capply_recreate="always"), tmp_path)
    outputs.append(out)
    assert forced["changed"] is True and forced["recreate_reasons"] == ["forced"]

    for text in outputs:
        assert DB_PASSWORD not in text


@pytest.mark.docker
def test_compose_apply_fails_on_unhealthy_service(project: Project, tmp_path: Path) -> None:
    start = time.monotonic()
    result, _out = play("compose_apply.yml", project.apply_vars("broken", capply_wait_timeout=20), tmp_path)
    elapsed = time.monotonic() - start
    assert result["failed"] is True
    assert "service broken" in result["msg"] and "unhealthy" in result["msg"]
    assert result["last_health_output"], result
    assert result["last_health_output"].split()[0] in result["msg"]
    assert result["health"] == "unhealthy"
    assert elapsed < 20 + 30
    assert "\n" not in result["msg"]


@pytest.mark.docker
@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unknown_service", "service 'nope' is not defined in Compose project"),
        ("missing_dir", "does not exist"),
        ("invalid_file", "docker compose config failed in"),
        ("missing_binary", "compose binary 'no-such-docker-binary' not found on PATH"),
        ("not_compose", "is not a working Compose v2 CLI"),
        ("docker_unreachable", "Docker engine unreachable at unix:///nonexistent/docker.sock"),
    ],
)
def test_compose_apply_errors(project: Project, tmp_path: Path, case: str, expected: str) -> None:
    variables = project.apply_vars("web")
    if case == "unknown_service":
        variables["capply_service"] = "nope"
    elif case == "missing_dir":
        variables["capply_project_dir"] = str(tmp_path / "does-not-exist")
    elif case == "invalid_file":
        (project.path / "bad.yml").write_text("services:\n  web: [unclosed\n")
        variables["capply_files"] = ["bad.yml"]
    elif case == "missing_binary":
        variables["capply_compose_command"] = "no-such-docker-binary compose"
    elif case == "not_compose":
        variables["capply_compose_command"] = "docker no-such-plugin"
    elif case == "docker_unreachable":
        variables["capply_docker_host"] = "unix:///nonexistent/docker.sock"
    result, _out = play("compose_apply.yml", variables, tmp_path)
    assert result["failed"] is True
    assert expected in result["msg"], result["msg"]
    assert "\n" not in result["msg"]
    assert "changed=0" in _out or result.get("changed") is False


# --------------------------------------------------------------------------- container_logs


@pytest.mark.docker
def test_container_logs_audit_enforce_watch(project: Project, tmp_path: Path) -> None:
    assert project.compose("up", "-d", "--no-deps", "emitter").returncode == 0
    base = {"clogs_project_name": project.name, "clogs_service": "emitter", "clogs_secrets": [LOG_TOKEN]}
    outputs = []

    audit, out = play("compose_logs.yml", {**base, "clogs_mode": "audit"}, tmp_path)
    outputs.append(out)
    assert audit.get("failed") is not True, audit
    assert audit["changed"] is False
    assert audit["counts"]["redis_connection_failed"] == 1
    assert audit["counts"]["connection_refused"] == 2
    assert audit["counts"]["redis_auth_failed"] == 1
    assert audit["scanned_lines"] == 4
    codes = {f["code"]: f["severity"] for f in audit["findings"]}
    assert codes["LOG_SIGNATURE_REDIS_CONNECTION_FAILED"] == "critical"
    assert codes["LOG_SIGNATURE_REDIS_AUTH_FAILED"] == "critical"
    first = audit["matches"][0]
    assert first["signature"] == "redis_connection_failed"
    assert first["level"] == "warning" and first["event"] == "Redis cache connection failed"
    assert all(len(m["excerpt"]) <= 200 for m in audit["matches"])
    inspected = project.inspect("emitter")
    # since: container_start is the creation of a never-restarted container
    # (Docker stamps StartedAt after the first lines were already written).
    assert audit["since"][:19] == inspected["Created"][:19]
    assert audit["since"] <= inspected["State"]["StartedAt"]

    enforce, out = play("compose_logs.yml", {**base, "clogs_mode": "enforce"}, tmp_path)
    outputs.append(out)
    assert enforce["failed"] is True
    assert "redis_connection_failed=1" in enforce["msg"] and "emitter" in enforce["msg"]

    # The late line is written on cue (not after a sleep, which a loaded machine outruns), while the watch runs.
    late = threading.Timer(3.0, lambda: subprocess.run(["docker", "exec", inspected["Id"], "sh", "-c", ": > /tmp/late"],
                                                        capture_output=True, check=True))
    late.start()
    try:
        watched, out = play(
            "compose_logs.yml", {**base, "clogs_mode": "audit", "clogs_watch_seconds": 12, "clogs_max_matches": 3},
            tmp_path,
        )
    finally:
        late.join()
    outputs.append(out)
    assert watched["counts"]["redis_connection_failed"] == 2
    assert len(watched["matches"]) == 3

    custom, out = play(
        "compose_logs.yml",
        {**base, "clogs_mode": "audit", "clogs_patterns": [{"name": "info_lines", "level": "info", "severity": "low"}]},
        tmp_path,
    )
    outputs.append(out)
    assert custom["counts"] == {"info_lines": 1}
    assert custom["findings"][0]["code"] == "LOG_SIGNATURE_INFO_LINES"
    assert custom["findings"][0]["severity"] == "low"

    # After a restart only the new run counts: the end of the previous run is the boundary.
    restarted = subprocess.run(["docker", "restart", "-t", "1", inspected["Id"]], capture_output=True, check=False)
    assert restarted.returncode == 0
    rerun, out = play("compose_logs.yml", {**base, "clogs_mode": "audit"}, tmp_path)
    outputs.append(out)
    assert rerun["counts"]["redis_connection_failed"] == 1
    assert rerun["since"][:19] == project.inspect("emitter")["State"]["FinishedAt"][:19]

    quiet, out = play("compose_logs.yml", {**base, "clogs_since": str(time.time() + 1)}, tmp_path)
    outputs.append(out)
    assert quiet.get("failed") is not True and quiet["counts"] == {} and quiet["matches"] == []

    for text in outputs:
        assert EMITTER_PASSWORD not in text
        assert LOG_TOKEN not in text
    assert "redis://:********@redis" in json.dumps(audit["matches"])


@pytest.mark.docker
def test_container_logs_missing_service(project: Project, tmp_path: Path) -> None:
    result, _out = play("compose_logs.yml", {"clogs_project_name": project.name, "clogs_service": "web"}, tmp_path)
    assert result["failed"] is True
    assert "has no container for service 'web'" in result["msg"]


# --------------------------------------------------------------------------- http_probe

ALLOWED_ORIGIN = "https://copiloto.saptiva.com"


class ProbeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ProbeServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_OPTIONS(self) -> None:
        origin = self.headers.get("Origin", "")
        if origin != ALLOWED_ORIGIN:
            self._send(400, b"Disallowed CORS origin", {"Content-Type": "text/plain"})
            return
        self._send(
            200,
            b"OK",
            {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Credentials": "true",
                "Access-Control-Allow-Methods": "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT",
                "Access-Control-Allow-Headers": self.headers.get("Access-Control-Request-Headers", ""),
                "Vary": "Origin",
            },
        )

    def do_GET(self) -> None:
        if self.path == "/api/health":
            doc = {"status": "healthy", "checks": {"database": {"status": "healthy"}, "redis": {"status": "healthy"}}}
            self._send(200, json.dumps(doc).encode(), {"Content-Type": "application/json"})
        elif self.path == "/api/degraded":
            doc = {
                "status": "degraded",
                "checks": {
                    "database": {"status": "healthy"},
                    "redis": {"status": "unhealthy", "error": "Error 111 redis://:%s@localhost" % EMITTER_PASSWORD},
                },
            }
            self._send(200, json.dumps(doc).encode(), {"Content-Type": "application/json"})
        elif self.path == "/flaky":
            with self.server.lock:
                self.server.hits += 1
                hit = self.server.hits
            self._send(503 if hit % 10 == 0 else 200, b"x")
        elif self.path == "/upstream":
            ok = self.headers.get("Authorization") == "Bearer %s" % UPSTREAM_TOKEN
            self.server.upstream_auth.append(ok)
            self._send(200 if ok else 401)
        else:
            self._send(404, b"not found")

    do_HEAD = do_GET


class ProbeServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ProbeHandler)
        self.lock = threading.Lock()
        self.hits = 0
        self.upstream_auth: list[bool] = []

    def url(self, path: str) -> str:
        return "http://127.0.0.1:%d%s" % (self.server_address[1], path)


@pytest.fixture
def server() -> Iterator[ProbeServer]:
    srv = ProbeServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_http_probe_cors_burst_health(server: ProbeServer, tmp_path: Path) -> None:
    variables = {
        "hprobe_url": server.url("/api/health"),
        "hprobe_cors_origins": [ALLOWED_ORIGIN, "http://localhost:3000"],
        "hprobe_burst": 50,
        "hprobe_health_json": True,
        "hprobe_mode": "audit",
    }
    result, _out = play("compose_http_probe.yml", variables, tmp_path)
    assert result.get("failed") is not True, result
    assert result["changed"] is False and result["status"] == 200
    allowed, denied = result["cors"]
    assert allowed["origin"] == ALLOWED_ORIGIN and allowed["allowed"] is True
    assert allowed["allow_origin"] == ALLOWED_ORIGIN and allowed["allow_credentials"] == "true"
    assert allowed["status"] == 200
    assert denied["origin"] == "http://localhost:3000" and denied["allowed"] is False and denied["status"] == 400
    assert denied["allow_origin"] is None
    assert [f["code"] for f in result["findings"]] == ["CORS_PREFLIGHT_FAILED"]
    assert result["findings"][0]["evidence"]["origin"] == "http://localhost:3000"
    burst = result["burst"]
    assert burst["count"] == 50 and burst["statuses"] == {"200": 50} and burst["errors"] == 0
    assert 0 < burst["p50_ms"] <= burst["p95_ms"] <= burst["max_ms"]
    assert result["health"] == {"status": "healthy", "checks": {"database": "healthy", "redis": "healthy"}}

    enforce, _out = play("compose_http_probe.yml", {**variables, "hprobe_mode": "enforce", "hprobe_burst": 0}, tmp_path)
    assert enforce["failed"] is True
    assert "CORS preflight from http://localhost:3000" in enforce["msg"]

    ok, _out = play(
        "compose_http_probe.yml",
        {**variables, "hprobe_mode": "enforce", "hprobe_burst": 0, "hprobe_cors_origins": [ALLOWED_ORIGIN]},
        tmp_path,
    )
    assert ok.get("failed") is not True and ok["findings"] == []


def test_http_probe_unhealthy_and_non_200_burst(server: ProbeServer, tmp_path: Path) -> None:
    degraded, out = play(
        "compose_http_probe.yml",
        {"hprobe_url": server.url("/api/degraded"), "hprobe_health_json": True, "hprobe_mode": "audit"},
        tmp_path,
    )
    assert [f["code"] for f in degraded["findings"]] == ["HEALTH_CHECK_UNHEALTHY"]
    assert degraded["health"]["checks"]["redis"] == "unhealthy"
    assert EMITTER_PASSWORD not in out and EMITTER_PASSWORD not in json.dumps(degraded)

    flaky, _out = play(
        "compose_http_probe.yml",
        {"hprobe_url": server.url("/flaky"), "hprobe_burst": 50, "hprobe_mode": "audit"},
        tmp_path,
    )
    codes = [f["code"] for f in flaky["findings"]]
    assert codes == ["BURST_NON_200"]
    assert sum(flaky["burst"]["statuses"].values()) == 50
    assert flaky["burst"]["statuses"].get("503", 0) >= 4


def test_http_probe_unreachable_and_bad_scheme(tmp_path: Path) -> None:
    down, _out = play("compose_http_probe.yml", {"hprobe_url": "http://127.0.0.1:%d/x" % free_port()}, tmp_path)
    assert down["failed"] is True
    assert [f["code"] for f in down["findings"]] == ["HTTP_UNREACHABLE"]
    assert "\n" not in down["msg"]

    bad, _out = play("compose_http_probe.yml", {"hprobe_url": "ftp://127.0.0.1/x"}, tmp_path)
    assert bad["failed"] is True and "not an http(s) URL" in bad["msg"]


def test_http_probe_upstream_token_never_shown(server: ProbeServer, tmp_path: Path) -> None:
    variables = {
        "hprobe_url": server.url("/api/health"),
        "hprobe_upstream_url": server.url("/upstream"),
        "hprobe_upstream_token": UPSTREAM_TOKEN,
        "hprobe_mode": "audit",
    }
    result, out = play("compose_http_probe.yml", variables, tmp_path, "-vvv", "--diff")
    assert result["upstream"]["reachable"] is True and result["upstream"]["status"] == 200
    assert server.upstream_auth == [True]
    assert UPSTREAM_TOKEN not in out
    assert UPSTREAM_TOKEN not in json.dumps(result)

    closed = {**variables, "hprobe_upstream_url": "http://127.0.0.1:%d/v1/models" % free_port()}
    result, out = play("compose_http_probe.yml", closed, tmp_path, "-vvv")
    assert [f["code"] for f in result["findings"]] == ["UPSTREAM_UNREACHABLE"]
    assert result["upstream"]["reachable"] is False
    assert UPSTREAM_TOKEN not in out
