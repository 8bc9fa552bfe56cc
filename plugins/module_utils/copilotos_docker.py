# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Docker Engine helpers shared by the copilotos modules.

The Docker SDK is imported lazily so a module can report a missing library
with ``missing_required_lib`` instead of a traceback.
"""

from __future__ import annotations

import traceback
from typing import Any

DOCKER_IMPORT_ERROR: str | None = None
try:
    import docker  # type: ignore[import-untyped]
    from docker.errors import (  # type: ignore[import-untyped]  # pylint: disable=unused-import
        DockerException,
        NotFound,  # unused here: for the modules and module_utils that import it from this file
    )
except ImportError:  # pragma: no cover - exercised on bare targets
    docker = None
    DockerException = Exception
    NotFound = Exception
    DOCKER_IMPORT_ERROR = traceback.format_exc()

# The argument specs of the doc fragment copilotos_docker's options (its
# DOCUMENTATION and COMPOSE parts), one default for every module.
DOCKER_ARGS: dict[str, dict[str, Any]] = {"docker_host": {"type": "str"}}
COMPOSE_ARGS: dict[str, dict[str, Any]] = dict(
    DOCKER_ARGS, compose_command={"type": "raw", "default": "docker compose"}
)
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


class DockerError(Exception):
    """A Docker problem, with a one-line message meant for the operator."""


def get_client(docker_host: str | None = None, timeout: int = 30) -> Any:
    """Return a connected Docker client or raise DockerError."""
    if docker is None:
        raise DockerError("the Python 'docker' library is not installed")
    try:
        if docker_host:
            client = docker.DockerClient(base_url=docker_host, timeout=timeout)
        else:
            client = docker.from_env(timeout=timeout)
        client.ping()
    except DockerException as exc:
        where = docker_host or "the default socket (DOCKER_HOST or /var/run/docker.sock)"
        raise DockerError("Docker engine unreachable at %s: %s" % (where, " ".join(str(exc).split())[:200])) from None
    return client


def service_containers(client: Any, project: str, service: str, all_states: bool = True) -> list[Any]:
    """Containers of one Compose service, newest first."""
    filters = {"label": ["%s=%s" % (PROJECT_LABEL, project), "%s=%s" % (SERVICE_LABEL, service)]}
    try:
        found = client.containers.list(all=all_states, filters=filters)
    except DockerException as exc:
        detail = " ".join(str(exc).split())[:200]
        raise DockerError("cannot list containers of %s/%s: %s" % (project, service, detail)) from None
    return sorted(found, key=lambda c: c.attrs.get("Created", ""), reverse=True)


def service_container(client: Any, project: str, service: str) -> Any:
    """The container of one Compose service, or DockerError when there is none."""
    found = service_containers(client, project, service)
    if not found:
        raise DockerError("Compose project %r has no container for service %r" % (project, service))
    return found[0]


def service_not_running(client: Any, project: str, service: str) -> str | None:
    """'container NAME is STATUS' when the service has a container that is not running, else None."""
    try:
        container = service_container(client, project, service)
    except DockerError:
        return None
    status = (container.attrs.get("State") or {}).get("Status") or "unknown"
    return None if status == "running" else "container %s is %s" % (container.name, status)


def container_address(container: Any) -> str:
    """The container's IP address on its first network that has one."""
    networks = container.attrs.get("NetworkSettings", {}).get("Networks") or {}
    for name in sorted(networks):
        address = networks[name].get("IPAddress")
        if address:
            return str(address)
    raise DockerError("container %s has no IP address (is it running?)" % container.name)


def resolve_service_address(client: Any, project: str, service: str) -> str:
    """Resolve a Compose service name to its container's address."""
    return container_address(service_container(client, project, service))


def container_env(container: Any) -> dict[str, str]:
    """The container's effective environment as a dict (values are secrets!)."""
    env: dict[str, str] = {}
    for item in container.attrs.get("Config", {}).get("Env") or []:
        key, _sep, value = item.partition("=")
        env[key] = value
    return env


def container_state(container: Any) -> dict[str, Any]:
    """Id, status, health, StartedAt, image and restart count; no environment."""
    state = container.attrs.get("State", {})
    health = state.get("Health") or {}
    log = health.get("Log") or []
    return {
        "id": container.id,
        "name": container.name,
        "status": state.get("Status"),
        "health": health.get("Status", "none"),
        "started_at": state.get("StartedAt"),
        "restart_count": container.attrs.get("RestartCount", 0),
        "image": container.attrs.get("Config", {}).get("Image"),
        "last_health_output": (log[-1].get("Output", "").strip()[-500:] if log else ""),
    }
