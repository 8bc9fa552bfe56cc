# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One read of a host's live state, for copilotos_state (and the verification).

Everything the rules judge is read here once per run: the target's Python,
the project's files, Compose's own view of the api service (the oracle for
what the api gets: interpolation, several env files, ``environment:`` over
``env_file``), the containers, and the api image's source files (which
generation of the application runs).

The functions return two things: plain public facts (no secret; safe to
return from a module) and, where the rules need them, raw values held in
memory only (``Raw``), never returned.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import platform
import stat
import sys
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from .copilotos_common import one_line
from .copilotos_compose import (
    CONFIG_HASH_LABEL,
    ComposeError,
    ComposeProject,
    discover_files,
    first_error_line,
    mask_output,
    parse_entries,
    raw_args,
    render_override,
    rendered_env,
    rendered_service,
)
from .copilotos_docker import (
    PROJECT_LABEL,
    SERVICE_LABEL,
    container_address,
    container_state,
)
from .copilotos_env import EnvFile, EnvParseError, parse_env
from .copilotos_logs import to_epoch_ns
from .copilotos_plan import managed_keys

OVERRIDE_MARKER = "copilotos-remediation"
OVERRIDE_HEADER = [
    "Managed by %s: regenerated on every run, do not edit." % OVERRIDE_MARKER,
    "The api's environment: block of the compose files above this one, without the keys",
    "the toolkit manages in the env file: those come from the env file, which the block",
    "would otherwise override. Compose merges this file last.",
]
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# A container still inside this many seconds of its start is "starting", not unhealthy.
STARTING_GRACE_S = 120


@dataclass
class Raw:
    """Values that may hold secrets: for the rules, in memory only."""

    env_file: dict[str, str] = field(default_factory=dict)
    env_file_doc: EnvFile | None = None
    effective: dict[str, str | None] = field(default_factory=dict)
    environment_block: list[tuple[str, str | None]] = field(default_factory=list)
    container: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str | None] = field(default_factory=dict)


def parse_docker_time(stamp: str | None) -> datetime | None:
    """Docker's RFC 3339 times (nanoseconds, ``Z``) as an aware datetime; None for none or Docker's zero time.

    The parsing is copilotos_logs' ``to_epoch_ns``, the one reader of Docker's stamps.
    """
    if not stamp or stamp.startswith("0001"):
        return None
    ns = to_epoch_ns(stamp)
    return None if ns is None else EPOCH + timedelta(microseconds=ns // 1000)


def uptime_s(started_at: str | None, now: datetime | None = None) -> int | None:
    started = parse_docker_time(started_at)
    if started is None:
        return None
    return int(((now or datetime.now(timezone.utc)) - started).total_seconds())


# -- the target -----------------------------------------------------------------
# The oldest target Python the modules and the pinned libraries support
# (requirements/target.txt; roles/copilotos_venv checks the same floor).
TARGET_PYTHON_MIN = (3, 9)


def python_too_old(version: tuple[int, ...] | None = None, executable: str | None = None) -> str | None:
    """A plain refusal when the target's Python is older than TARGET_PYTHON_MIN, else None."""
    found = tuple(sys.version_info[:3]) if version is None else tuple(version)
    if found[:2] >= TARGET_PYTHON_MIN:
        return None
    return ("The target's Python %s (%s) is too old: the modules need Python %s or newer. Build the target's "
            "virtualenv from a newer Python (playbooks/bootstrap.yml -e copilotos_venv_python=<path>) and point "
            "ansible_python_interpreter at <copilotos_venv_path>/bin/python."
            % (".".join(str(n) for n in found), executable or sys.executable,
               ".".join(str(n) for n in TARGET_PYTHON_MIN)))


def missing_libs(names: list[str]) -> list[dict[str, str]]:
    out = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # ImportError, or a broken install raising anything at import
            out.append({"name": name, "error": "%s: %s" % (type(exc).__name__, one_line(exc, 200))})
    return out


def target_facts() -> dict[str, Any]:
    return {"python": platform.python_version(), "hostname": platform.node()}


# -- files ------------------------------------------------------------------------
def file_facts(path: str | None) -> dict[str, Any]:
    """Type, mode and owner of a path, never following a symlink."""
    if not path:
        return {"path": None, "type": "none"}
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return {"path": path, "type": "missing"}
    except OSError as exc:
        return {"path": path, "type": "unreadable", "error": exc.strerror or str(exc)}
    kind = "special"
    if stat.S_ISLNK(info.st_mode):
        kind = "symlink"
    elif stat.S_ISDIR(info.st_mode):
        kind = "directory"
    elif stat.S_ISREG(info.st_mode):
        kind = "file"
    out: dict[str, Any] = {"path": path, "type": kind, "mode": "%04o" % (info.st_mode & 0o7777),
                           "uid": info.st_uid, "gid": info.st_gid}
    if kind == "symlink":
        out["link_target"] = os.path.realpath(path)
    return out


def line_numbers(env: EnvFile) -> dict[str, int]:
    """The physical line of each key's effective (last) assignment."""
    out: dict[str, int] = {}
    line = 1
    for entry in env.lines:
        if entry.key is not None:
            out[entry.key] = line
        line += entry.text.count("\n") + 1
    return out


def read_env_file(path: str, raw: Raw) -> dict[str, Any]:
    """Parse the env file; public facts (keys, lines, errors), values into ``raw``."""
    facts = file_facts(path)
    if facts["type"] != "file":
        return facts
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        facts.update(type="unreadable", error=exc.strerror or str(exc))
        return facts
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        facts["parse_error"] = {"line": data[: exc.start].count(b"\n") + 1, "reason": "not UTF-8 text"}
        return facts
    try:
        env = parse_env(text)
    except EnvParseError as exc:
        facts["parse_error"] = {"line": exc.lineno, "reason": exc.reason}
        return facts
    raw.env_file_doc = env
    raw.env_file = {key: value.text for key, value in env.effective().items()}
    facts["lines"] = line_numbers(env)
    facts["duplicates"] = env.duplicates()
    facts["interpolated"] = sorted(k for k, v in env.effective().items() if not v.literal)
    return facts


def read_override(path: str | None) -> dict[str, Any]:
    facts = file_facts(path)
    if facts["type"] != "file":
        facts["managed"] = None
        return facts
    try:
        with open(str(path), encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError as exc:
        facts.update(type="unreadable", error=exc.strerror or str(exc), managed=None)
        return facts
    facts["managed"] = OVERRIDE_MARKER in text
    facts["text"] = text
    return facts


# -- Compose's view -------------------------------------------------------------------
def compose_files(paths: Mapping[str, Any], exists: Callable[[str], bool] = os.path.isfile) -> dict[str, Any]:
    """The base files (without the toolkit's override) and the files Compose loads now.

    ``paths["compose_files"]`` empty means Compose's default discovery: the
    main file and its ``.override`` file, unless that is the toolkit's own.
    """
    override = paths.get("override_file")
    listed = list(paths.get("compose_files") or [])
    if listed:
        base = listed
    else:
        main, default_override = discover_files(paths["compose_project_dir"], exists)
        base = [main] if main else []
        if default_override and default_override != override:
            base.append(default_override)
    base = [f for f in base if f != override]
    current = base + ([override] if override and exists(override) else [])
    return {"base": base, "current": current, "missing": [f for f in base if not exists(f)]}


def service_environment(project: ComposeProject, service: str) -> tuple[list[tuple[str, str | None]], list[str]]:
    """The merged ``environment:`` entries (as written) and the env files of ``service``."""
    rc, out, err = project._call(raw_args(project.base, service))
    if rc != 0:
        raise ComposeError("docker compose config failed in %s: %s"
                           % (project.project_dir, one_line(mask_output(first_error_line(err), project.secrets), 240)))
    try:
        model = json.loads(out)
    except ValueError:
        raise ComposeError("docker compose config in %s did not print JSON" % project.project_dir) from None
    svc = rendered_service(model, service)
    env_files = []
    for item in svc.get("env_file") or []:
        env_files.append(str(item.get("path") if isinstance(item, dict) else item))
    return parse_entries(svc.get("environment")), env_files


def effective_view(project: ComposeProject, service: str) -> tuple[dict[str, str | None], str | None, str]:
    """What Compose hands the service now: its environment, the config hash ``up`` would label, the image."""
    model, raw_json = project.render(service)
    svc = rendered_service(model, service)
    return rendered_env(svc), project.rendered_hash(raw_json, service), str(svc.get("image") or "")


# -- containers -------------------------------------------------------------------
def project_containers(client: Any, project_name: str) -> list[Any]:
    return list(client.containers.list(all=True, filters={"label": "%s=%s" % (PROJECT_LABEL, project_name)}))


def container_facts(container: Any, now: datetime | None = None) -> dict[str, Any]:
    state = container_state(container)
    state["service"] = (container.labels or {}).get(SERVICE_LABEL)
    state["uptime_s"] = uptime_s(state.get("started_at"), now) if state.get("status") == "running" else None
    if state.get("health") in ("healthy", "none"):
        state.pop("last_health_output", None)
    state["config_hash"] = (container.labels or {}).get(CONFIG_HASH_LABEL)
    try:
        state["address"] = container_address(container)
    except Exception:
        state["address"] = None
    return state


def newest_of(containers: list[Any], service: str) -> Any:
    mine = [c for c in containers if (c.labels or {}).get(SERVICE_LABEL) == service]
    mine.sort(key=lambda c: c.attrs.get("Created", ""), reverse=True)
    return mine[0] if mine else None


def read_container_files(container: Any, paths: Mapping[str, str], limit: int = 512 * 1024) -> dict[str, str | None]:
    """Text of files inside a container (running or not), through the Docker API; None where absent."""
    out: dict[str, str | None] = {}
    for name, path in paths.items():
        try:
            stream, _stat = container.get_archive(path)
            buffer = io.BytesIO()
            for chunk in stream:
                buffer.write(chunk)
                if buffer.tell() > limit * 2:
                    break
            buffer.seek(0)
            with tarfile.open(fileobj=buffer) as tar:
                member = next((m for m in tar.getmembers() if m.isfile()), None)
                handle = tar.extractfile(member) if member else None
                out[name] = handle.read(limit).decode("utf-8", errors="replace") if handle else None
        except Exception:  # NotFound, a directory, an unreadable archive: no such source
            out[name] = None
    return out


def api_env_public(env: Mapping[str, str | None], keys: list[str]) -> dict[str, str | None]:
    """The container's values of non-secret keys only."""
    return {k: env.get(k) for k in keys if k in env}


def shadowed_keys(plan: Mapping[str, Any], entries: list[tuple[str, str | None]]) -> list[str]:
    """Managed keys that the compose files' ``environment:`` block sets."""
    managed = set(managed_keys(plan))
    return [k for k, _v in entries if k in managed]


def override_text(plan: Mapping[str, Any], entries: list[tuple[str, str | None]]) -> str | None:
    """The toolkit's override for these base entries, or None when no managed key is shadowed."""
    if not shadowed_keys(plan, entries):
        return None
    return render_override(entries, managed_keys(plan), plan["compose"]["service"], OVERRIDE_HEADER)
