"""Helpers for the reliability tests of issue 6 (fault matrix, bad input, secret hygiene).

Everything here acts on the real lab: Compose projects brought up by
``playbooks/lab.yml`` on the local Docker engine. The helpers inject faults
(stop a container, change a password behind the remediation's back, a full
or read-only filesystem under the project directory), observe the outcome
(file bytes, container state, the per-host failure message, the findings of
the controller report) and put the lab back.

No helper prints a secret: assertion messages show digests and key names.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ansible_runner
import redis
import yaml

from tests.helpers.lab import ROOT, VENV_PATH, LabHost, Run, container_env, docker_inspect

ANSIBLE_PLAYBOOK = str(ROOT / ".venv" / "bin" / "ansible-playbook")
# The compose file's default, which the api runs with before the remediation.
INCIDENT_CONTAINER_REDIS_URL = "redis://localhost:6379/0"
INCIDENT_CORS = '["http://localhost:3000"]'


def digest(data: bytes | None) -> str:
    return "absent" if data is None else hashlib.sha256(data).hexdigest()[:16]


def read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


@dataclass
class HostState:
    """What a run may change on a lab host (file bytes and the api container)."""

    env: bytes | None
    override: bytes | None
    backups: list[str]
    api_id: str | None
    api_started: str | None

    @property
    def env_digest(self) -> str:
        return digest(self.env)


def backups(host: LabHost, root: Path | None = None) -> list[str]:
    """The backup directories (each has its manifest, <name>.json, next to it)."""
    base = root or host.project_dir / ".copilotos-backups"
    return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []


def snapshot(host: LabHost, backup_root: Path | None = None) -> HostState:
    try:
        state = docker_inspect(host.container("api"))
        api_id, started = state["Id"], state["State"]["StartedAt"]
    except subprocess.CalledProcessError:
        api_id = started = None
    return HostState(read_bytes(host.env_file), read_bytes(host.project_dir / "docker-compose.override.yml"),
                     backups(host, backup_root), api_id, started)


def compose(host: LabHost, *args: str, timeout: int = 240) -> subprocess.CompletedProcess[str]:
    cmd = ["docker", "compose", "--project-name", host.project, "--project-directory", str(host.project_dir), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, "%s: %s" % (" ".join(cmd[2:]), done.stderr[-2000:])
    return done


def docker(*args: str, timeout: int = 120) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, "docker %s: %s" % (" ".join(args[:2]), done.stderr[-1000:])
    return done.stdout


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    """Poll until predicate() is truthy; fail the test naming what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(interval)


def health(name: str) -> str:
    state = docker_inspect(name)["State"]
    return str((state.get("Health") or {}).get("Status") or state.get("Status"))


def wait_healthy(*names: str, timeout: float = 180) -> None:
    for name in names:
        wait_until(lambda n=name: health(n) == "healthy", timeout, "%s to be healthy" % name, interval=1)


def api_health(host: LabHost) -> dict[str, Any]:
    with urllib.request.urlopen(host.api + "/api/health", timeout=15) as resp:
        return dict(json.loads(resp.read()))


def container_ip(name: str) -> str:
    networks = docker_inspect(name)["NetworkSettings"]["Networks"]
    return str(next(iter(networks.values()))["IPAddress"])


def redis_client(host: LabHost, password: str) -> redis.Redis:
    return redis.Redis(host=container_ip(host.container("redis")), port=6379, password=password,
                       socket_timeout=5, socket_connect_timeout=5)


def write_env(host: LabHost, data: bytes) -> None:
    """Replace the env file with these bytes (mode 0600), as an operator's editor would."""
    tmp = host.env_file.with_name(".env.production.test-%s" % uuid.uuid4().hex[:6])
    tmp.write_bytes(data)
    tmp.chmod(0o600)
    tmp.replace(host.env_file)


def recreate_api(host: LabHost) -> None:
    compose(host, "up", "--detach", "--no-deps", "--force-recreate", "--wait", "--wait-timeout", "180", "api")


def is_incident(host: LabHost, incident: bytes) -> bool:
    if read_bytes(host.env_file) != incident or (host.project_dir / "docker-compose.override.yml").exists():
        return False
    try:
        env = container_env(host.container("api"))
    except subprocess.CalledProcessError:
        return False
    return env.get("REDIS_URL") == INCIDENT_CONTAINER_REDIS_URL and env.get("CORS_ORIGINS") == INCIDENT_CORS \
        and health(host.container("api")) == "healthy"


def ensure_incident(host: LabHost, incident: bytes) -> None:
    """Put a lab host back in its incident state: env file bytes, no override, api recreated on them.

    Like ``playbooks/lab.yml -e lab_reset=true``, but with the exact bytes the
    test recorded, without a playbook run per host, and also clearing a lock a
    killed run left behind.
    """
    if is_incident(host, incident):
        return
    write_env(host, incident)
    (host.project_dir / "docker-compose.override.yml").unlink(missing_ok=True)
    (host.project_dir / ".copilotos-remediation.lock").unlink(missing_ok=True)
    for service in ("redis", "mongodb"):
        if docker_inspect(host.container(service))["State"]["Status"] != "running":
            compose(host, "start", service)
    recreate_api(host)
    wait_healthy(host.container("redis"), host.container("mongodb"))


def set_host_vars(inventory: Path, host: str, name: str, data: dict[str, Any]) -> Path:
    path = inventory / "host_vars" / host / ("%s.yml" % name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("---\n" + yaml.safe_dump(data))
    return path


def clear_host_vars(inventory: Path, host: str, name: str) -> None:
    (inventory / "host_vars" / host / ("%s.yml" % name)).unlink(missing_ok=True)


def failure_messages(run: Run, host: str) -> list[str]:
    """The msg of every failed task of a host, in order (the last one is the host's verdict)."""
    out = []
    for event in run.events:
        data = event.get("event_data") or {}
        if event.get("event") == "runner_on_failed" and data.get("host") == host:
            msg = (data.get("res") or {}).get("msg")
            if msg:
                out.append(str(msg))
    return out


def final_message(run: Run, host: str) -> str:
    msgs = failure_messages(run, host)
    return msgs[-1] if msgs else ""


def report(report_dir: Path, host: str) -> dict[str, Any]:
    return dict(json.loads((report_dir / "latest" / ("%s.json" % host)).read_text()))


def finding_codes(report_dir: Path, host: str) -> set[str]:
    return {f["code"] for f in report(report_dir, host)["findings"]}


def run_with_events(playbook: str, inventory: Path, workdir: Path, extravars: dict[str, Any] | None = None,
                    cmdline: str = "", envvars: dict[str, str] | None = None,
                    on_event: Callable[[dict[str, Any]], None] | None = None, timeout: int = 900) -> Run:
    """Like tests.helpers.lab.run_playbook, with a callback on every event as it happens."""
    private = workdir / ("runner-" + uuid.uuid4().hex[:8])
    private.mkdir(parents=True)
    env = {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0", "PATH": VENV_PATH}
    env.update(envvars or {})

    def handler(event: dict[str, Any]) -> bool:
        if on_event is not None:
            on_event(event)
        return True

    result = ansible_runner.run(private_data_dir=str(private), project_dir=str(ROOT), playbook=str(ROOT / playbook),
                                inventory=str(inventory), extravars=extravars or {}, cmdline=cmdline or None,
                                envvars=env, quiet=True, timeout=timeout, event_handler=handler)
    return Run(result.rc, result.status, result.stats or {}, result.stdout.read(), list(result.events))


@dataclass
class Proc:
    """ansible-playbook as a child process in its own process group, its output read as it comes.

    With ``kill_at``, the reader SIGKILLs the whole process group (the
    playbook, its forks and the modules they run) the moment a line contains
    that text, e.g. a task banner.
    """

    popen: subprocess.Popen[str]
    kill_at: str | None = None
    killed: bool = False
    lines: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def start_reader(self) -> None:
        def pump() -> None:
            assert self.popen.stdout is not None
            for line in self.popen.stdout:
                self.lines.append(line)
                if self.kill_at and not self.killed and self.kill_at in line:
                    self.kill()
        self._reader = threading.Thread(target=pump, daemon=True)
        self._reader.start()

    def kill(self) -> None:
        self.killed = True
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def wait(self, timeout: float = 600) -> int:
        """Wait for the end (reaped, so its pid is gone) and for the last line of output."""
        try:
            rc = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        if self._reader is not None:
            self._reader.join(timeout=30)
        return rc

    @property
    def output(self) -> str:
        return "".join(self.lines)


def start_playbook(playbook: str, inventory: Path, *args: str, kill_at: str | None = None) -> Proc:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1",
               PATH=VENV_PATH, PYTHONUNBUFFERED="1")
    popen = subprocess.Popen([ANSIBLE_PLAYBOOK, "-i", str(inventory), str(ROOT / playbook), *args], cwd=ROOT,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
    proc = Proc(popen, kill_at=kill_at)
    proc.start_reader()
    return proc


@contextmanager
def small_filesystem(project_dir: Path, size: str = "2m", read_only: bool = False) -> Iterator[Path]:
    """Mount a tiny tmpfs over the project directory holding a copy of its files.

    Either filled up (ENOSPC on the next write) or remounted read-only
    (EROFS). The files underneath are hidden, not touched, and visible again
    once it is unmounted. Needs root (CAP_SYS_ADMIN).
    """
    stash = project_dir.with_name(project_dir.name + ".stash-" + uuid.uuid4().hex[:6])
    shutil.copytree(project_dir, stash, symlinks=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0750" % size, "tmpfs", str(project_dir)], check=True)
    try:
        subprocess.run(["cp", "-a", "%s/." % stash, str(project_dir)], check=True)
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(project_dir)], check=True)
        else:
            fd = os.open(project_dir / ".filler", os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                while True:
                    os.write(fd, b"\0" * 4096)
            except OSError:
                pass
            finally:
                os.close(fd)
            probe = project_dir / ".probe"
            try:
                probe.write_bytes(b"x" * 4096)
            except OSError:
                pass
            else:
                raise AssertionError("the tmpfs over %s is not full" % project_dir)
        yield project_dir
    finally:
        subprocess.run(["umount", "--lazy", str(project_dir)], check=False)
        shutil.rmtree(stash, ignore_errors=True)
