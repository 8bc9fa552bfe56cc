"""Real local servers for tests: redis-server and the lab MongoDB stand-in.

Each helper is a context manager that starts the server as a subprocess on
127.0.0.1 and a free port, waits until it answers, yields a small namespace
with ``host``, ``port``, ``pid`` and ``log()``, and stops the process by its
PID (SIGTERM, then SIGKILL) on exit. Secrets are passed through the
environment or a config on stdin, never on a command line that ``ps`` shows.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MONGO_LAB_SERVER = os.path.join(ROOT, "lab", "image", "app", "mongo_lab_server.py")
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


@dataclass
class ServerInfo:
    """A running test server."""

    host: str
    port: int
    pid: int
    log_path: str
    proc: subprocess.Popen = field(repr=False)

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def alive(self) -> bool:
        return self.proc.poll() is None


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def closed_port() -> int:
    """A port where nothing listens (connection refused)."""
    return free_port()


def _wait_listening(proc: subprocess.Popen, host: str, port: int, log_path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            with open(log_path, encoding="utf-8", errors="replace") as handle:
                tail = handle.read()[-2000:]
            raise RuntimeError("server exited early (rc=%s): %s" % (proc.returncode, tail))
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server on %s:%d not ready after %.0fs" % (host, port, timeout))


def stop_process(proc: subprocess.Popen, timeout: float = 5.0) -> float | None:
    """SIGTERM the process by PID, SIGKILL if needed; return seconds it took."""
    if proc.poll() is not None:
        return 0.0
    start = time.monotonic()
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)
        return None
    return time.monotonic() - start


@contextlib.contextmanager
def redis_server(password: str | None = None, port: int | None = None) -> Iterator[ServerInfo]:
    """A real redis-server on 127.0.0.1 (``requirepass`` when ``password``)."""
    if not os.path.exists(REDIS_SERVER):
        raise RuntimeError("redis-server not installed")
    host = "127.0.0.1"
    port = port or free_port()
    workdir = tempfile.mkdtemp(prefix="test-redis-")
    log_path = os.path.join(workdir, "redis.log")
    # The config arrives on stdin ("-"), so the password is never in argv.
    config = [
        "bind %s" % host,
        "port %d" % port,
        'save ""',
        "appendonly no",
        "dir %s" % workdir,
        "daemonize no",
        "protected-mode yes",
    ]
    if password:
        quoted = password.replace("\\", "\\\\").replace('"', '\\"')
        config.append('requirepass "%s"' % quoted)
    with open(log_path, "wb") as log_handle:
        proc = subprocess.Popen(
            [REDIS_SERVER, "-"],
            stdin=subprocess.PIPE,
            stdout=log_handle,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
    assert proc.stdin is not None
    proc.stdin.write(("\n".join(config) + "\n").encode("utf-8"))
    proc.stdin.close()
    try:
        _wait_listening(proc, host, port, log_path, timeout=10)
        yield ServerInfo(host=host, port=port, pid=proc.pid, log_path=log_path, proc=proc)
    finally:
        stop_process(proc)
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def mongo_lab_server(
    user: str | None = None,
    password: str | None = None,
    port: int | None = None,
    max_connections: int | None = None,
    extra_args: list[str] | None = None,
    python: str | None = None,
) -> Iterator[ServerInfo]:
    """The lab MongoDB stand-in on 127.0.0.1, credentials from the environment."""
    host = "127.0.0.1"
    port = port or free_port()
    workdir = tempfile.mkdtemp(prefix="test-mongo-lab-")
    log_path = os.path.join(workdir, "mongo.log")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "MONGO_INITDB_", "MONGO_LAB_"))}
    env["PYTHONUNBUFFERED"] = "1"
    if user is not None:
        env["MONGODB_USER"] = user
    if password is not None:
        env["MONGODB_PASSWORD"] = password
    argv = [python or sys.executable, MONGO_LAB_SERVER, "--host", host, "--port", str(port)]
    if max_connections is not None:
        argv += ["--max-connections", str(max_connections)]
    argv += list(extra_args or [])
    with open(log_path, "wb") as log_handle:
        proc = subprocess.Popen(argv, stdout=log_handle, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    try:
        _wait_listening(proc, host, port, log_path, timeout=15)
        yield ServerInfo(host=host, port=port, pid=proc.pid, log_path=log_path, proc=proc)
    finally:
        stop_process(proc)
        shutil.rmtree(workdir, ignore_errors=True)
