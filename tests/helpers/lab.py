"""Build lab inventories and run the project's playbooks for tests.

Playbooks run through ansible-runner, so tests assert on per-host stats
(``changed``, ``failures``) and on the events, not only on exit codes.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ansible_runner
import yaml

ROOT = Path(__file__).resolve().parents[2]
LAB_GROUP_VARS = ROOT / "inventory" / "lab" / "group_vars"
VENV_PATH = "%s:%s" % (ROOT / ".venv" / "bin", os.environ.get("PATH", "/usr/bin:/bin"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LabHost:
    name: str
    project_dir: Path
    project: str
    port: int

    @property
    def env_file(self) -> Path:
        return self.project_dir / ".env.production"

    @property
    def api(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    def container(self, service: str) -> str:
        return "%s-%s-1" % (self.project, service)


def make_inventory(
    base: Path, names: list[str], extra_group_vars: dict[str, Any] | None = None
) -> tuple[Path, list[LabHost]]:
    """An inventory directory shaped like inventory/lab, with unique hosts."""
    inv = base / "inventory"
    inv.mkdir(parents=True, exist_ok=True)
    shutil.copytree(LAB_GROUP_VARS, inv / "group_vars", dirs_exist_ok=True)
    tag = uuid.uuid4().hex[:6]
    hosts: list[LabHost] = []
    for name in names:
        hosts.append(LabHost(name, base / "projects" / name, "t-%s-%s" % (name, tag), free_port()))
    doc = {"copilotos": {"hosts": {h.name: {
        "copilotos_project_dir": str(h.project_dir),
        "copilotos_compose_project": h.project,
        "copilotos_api_port": h.port,
    } for h in hosts}}}
    (inv / "hosts.yml").write_text("---\n" + yaml.safe_dump(doc, sort_keys=False))
    if extra_group_vars:
        (inv / "group_vars" / "copilotos" / "test.yml").write_text("---\n" + yaml.safe_dump(extra_group_vars))
    return inv, hosts


@dataclass
class Run:
    rc: int
    status: str
    stats: dict[str, Any]
    stdout: str
    events: list[dict[str, Any]]

    def changed(self, host: str) -> int:
        return int((self.stats.get("changed") or {}).get(host, 0))

    def failed(self, host: str) -> int:
        return int((self.stats.get("failures") or {}).get(host, 0)) + int((self.stats.get("dark") or {}).get(host, 0))

    def task_results(self, task_name_part: str) -> list[dict[str, Any]]:
        out = []
        for ev in self.events:
            data = ev.get("event_data") or {}
            if ev.get("event", "").startswith("runner_on_") and task_name_part in (data.get("task") or ""):
                out.append(data)
        return out


def run_playbook(playbook: str, inventory: Path, workdir: Path, extravars: dict[str, Any] | None = None,
                 cmdline: str = "", envvars: dict[str, str] | None = None, timeout: int = 900) -> Run:
    """Run a playbook of the project through ansible-runner.

    ansible-runner puts its own callback directory first, which hides the one
    ansible.cfg names; ANSIBLE_CALLBACK_PLUGINS brings the project's summary
    callback back, so the output is what an operator sees.
    """
    private = workdir / ("runner-" + uuid.uuid4().hex[:8])
    private.mkdir(parents=True)
    env = {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0", "PATH": VENV_PATH,
           "ANSIBLE_CALLBACK_PLUGINS": str(ROOT / "plugins" / "callback")}
    env.update(envvars or {})
    result = ansible_runner.run(
        private_data_dir=str(private),
        project_dir=str(ROOT),
        playbook=str(ROOT / playbook),
        inventory=str(inventory),
        extravars=extravars or {},
        cmdline=cmdline or None,
        envvars=env,
        quiet=True,
        timeout=timeout,
    )
    stdout = result.stdout.read()
    events = list(result.events)
    return Run(result.rc, result.status, result.stats or {}, stdout, events)


def run_cli(args: list[str], timeout: int = 900, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ansible-playbook (or another CLI) from the repository root."""
    full_env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0", PATH=VENV_PATH)
    full_env.update(env or {})
    return subprocess.run(args, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout, check=False)


def docker_inspect(container: str) -> dict[str, Any]:
    out = subprocess.run(["docker", "inspect", container], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)[0]


def container_env(container: str) -> dict[str, str]:
    env = {}
    for item in docker_inspect(container)["Config"]["Env"]:
        key, _, value = item.partition("=")
        env[key] = value
    return env


def read_env_file(path: Path) -> dict[str, str]:
    """The values of an env file as Compose reads them (the project's parser, checked against Compose)."""
    from ansible.module_utils.copilotos_env import parse_env

    return {key: value.text for key, value in parse_env(path.read_text()).effective().items()}


def lab_secrets(inventory: Path, host: str) -> dict[str, str]:
    return yaml.safe_load((inventory / "host_vars" / host / "lab_secrets.yml").read_text())


def lab_down(inventory: Path, workdir: Path) -> Run:
    return run_playbook("playbooks/lab.yml", inventory, workdir, extravars={"lab_state": "absent"})
