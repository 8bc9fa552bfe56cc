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


GENERATIONS = ("diagnosis", "current")
LAYOUTS = ("flat", "upstream")


@dataclass
class LabHost:
    """One lab host: its Compose project, its api generation and its layout's paths."""

    name: str
    project_dir: Path
    project: str
    port: int
    generation: str = "diagnosis"
    layout: str = "flat"

    @property
    def upstream(self) -> bool:
        return self.layout == "upstream"

    @property
    def compose_dir(self) -> Path:
        """The directory Compose resolves relative paths from (copilotos_compose_project_dir)."""
        return self.project_dir / "infra" if self.upstream else self.project_dir

    @property
    def compose_file(self) -> Path:
        """The lab's compose file (the one copilotos_compose_files names, or Compose's default)."""
        return self.compose_dir / ("docker-compose.prod.yml" if self.upstream else "docker-compose.yml")

    @property
    def compose_files(self) -> list[Path]:
        """copilotos_compose_files made absolute; empty means Compose's default discovery."""
        return [self.compose_file] if self.upstream else []

    @property
    def env_file(self) -> Path:
        """The api's env_file (copilotos_env_file)."""
        return self.project_dir / "envs" / ".env.prod" if self.upstream else self.project_dir / ".env.production"

    @property
    def interpolation_file(self) -> Path:
        """The .env Compose interpolates ${...} from (written by the lab in the upstream layout only)."""
        return self.compose_dir / ".env"

    @property
    def override_file(self) -> Path:
        """The remediation's compose override (copilotos_env_override_file)."""
        return self.compose_dir / ("docker-compose.remediation.yml" if self.upstream else "docker-compose.override.yml")

    def compose_args(self, with_override: bool = True) -> list[str]:
        """Arguments of `docker compose` for this project: name, directory, files.

        In the flat layout Compose discovers docker-compose.yml and the
        override by itself; in the upstream layout the override is passed with
        -f after the compose file when it exists (and ``with_override``).
        """
        args = ["--project-name", self.project, "--project-directory", str(self.compose_dir)]
        files = list(self.compose_files)
        if files and with_override and self.override_file.exists():
            files.append(self.override_file)
        for path in files:
            args += ["-f", str(path)]
        return args

    @property
    def api(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    def container(self, service: str) -> str:
        return "%s-%s-1" % (self.project, service)


def _per_host(value: str | dict[str, str] | None, name: str, default: str, choices: tuple[str, ...]) -> str:
    chosen = value.get(name, default) if isinstance(value, dict) else (value or default)
    assert chosen in choices, "%s: %r is not one of %s" % (name, chosen, choices)
    return chosen


def make_inventory(
    base: Path, names: list[str], extra_group_vars: dict[str, Any] | None = None,
    generation: str | dict[str, str] | None = None, layout: str | dict[str, str] | None = None,
) -> tuple[Path, list[LabHost]]:
    """An inventory directory shaped like inventory/lab, with unique hosts.

    ``generation`` and ``layout`` set copilotos_lab_api_generation and
    copilotos_lab_layout for every host (a string) or per host (a dict of
    host name to value); unset means the role's defaults (diagnosis, flat),
    which are then not written to the inventory.
    """
    inv = base / "inventory"
    inv.mkdir(parents=True, exist_ok=True)
    shutil.copytree(LAB_GROUP_VARS, inv / "group_vars", dirs_exist_ok=True)
    tag = uuid.uuid4().hex[:6]
    hosts: list[LabHost] = []
    for name in names:
        hosts.append(LabHost(name, base / "projects" / name, "t-%s-%s" % (name, tag), free_port(),
                             _per_host(generation, name, "diagnosis", GENERATIONS),
                             _per_host(layout, name, "flat", LAYOUTS)))
    doc: dict[str, Any] = {"copilotos": {"hosts": {}}}
    for h in hosts:
        entry: dict[str, Any] = {
            "copilotos_project_dir": str(h.project_dir),
            "copilotos_compose_project": h.project,
            "copilotos_api_port": h.port,
        }
        if generation is not None:
            entry["copilotos_lab_api_generation"] = h.generation
        if layout is not None:
            entry["copilotos_lab_layout"] = h.layout
        doc["copilotos"]["hosts"][h.name] = entry
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
