# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the store probes (redis_auth, mongo_ping) share.

A finding collector that masks every text with the known secrets, the
resolution of a URL's host to a container of the Compose project (the api
sees ``redis`` or ``mongodb`` through the project network, the target host
does not), the one-line verdict message, and the modules' main().
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from .copilotos_common import finding, mask_text, mask_url_passwords, one_line
from .copilotos_docker import (
    DOCKER_IMPORT_ERROR,
    DockerError,
    get_client,
    resolve_service_address,
    service_not_running,
)
from .copilotos_urls import is_ip_address, is_loopback_host


class Check:
    """Collects findings and masks every text with the known secrets."""

    def __init__(self, secrets: list[str | None]) -> None:
        self.secrets = [s for s in secrets if s]
        self.findings: list[dict[str, Any]] = []

    def mask(self, text: Any) -> str:
        return str(mask_url_passwords(mask_text(text, self.secrets)))

    def add(self, code: str, severity: str, message: str, **evidence: Any) -> None:
        clean = {k: (self.mask(v) if isinstance(v, str) else v) for k, v in evidence.items()}
        self.findings.append(finding(code, severity, self.mask(message), **clean))

    def codes(self, severity: str | None = None) -> list[str]:
        return [f["code"] for f in self.findings if severity is None or f["severity"] == severity]


def service_for_host(host: str, service: str) -> str | None:
    """The Compose service to resolve for a URL host, or None to use the host as is."""
    if is_loopback_host(host) or host == service:
        return service
    if not is_ip_address(host) and "." not in host:
        return host  # another single-label name: a service of the same project
    return None


def resolve(docker_host: str | None, project: str, service: str) -> tuple[str | None, str]:
    """(container address, "") or (None, one-line reason)."""
    try:
        return resolve_service_address(get_client(docker_host), project, service), ""
    except DockerError as exc:
        return None, one_line(exc)


def not_running(docker_host: str | None, project: str, service: str) -> str | None:
    """Why the service has no address when its container exists but is stopped, else None."""
    try:
        return service_not_running(get_client(docker_host), project, service)
    except DockerError:
        return None


def locate_service(
    check: Check,
    docker_host: str | None,
    project: str,
    host: str,
    service: str,
    product: str,
    code_prefix: str,
) -> tuple[str | None, bool]:
    """Resolve a URL's host to a container address of the Compose project.

    Returns ``(address, stop)``: the container's address, or None to connect
    to the host as DNS resolves it; ``stop`` is True when a finding
    (``<prefix>_UNREACHABLE`` for a stopped container, ``<prefix>_SERVICE_UNRESOLVED``
    when there is no such service) was added and there is nothing to connect to.
    """
    wanted = service_for_host(host, service)
    if not wanted:
        return None, False
    address, error = resolve(docker_host, project, wanted)
    if address:
        return address, False
    stopped = not_running(docker_host, project, wanted)
    if stopped:
        # The service is a container of the project, just not running: the store is
        # unreachable (not "unresolved", which means no such service).
        check.add(
            code_prefix + "_UNREACHABLE",
            "critical",
            "%s does not answer: %s, so service %r of project %r has no address"
            " (start it: docker compose up -d %s)" % (product, stopped, wanted, project, wanted),
            compose_project=project,
            service=wanted,
        )
        return None, True
    if wanted == service or is_loopback_host(host):
        check.add(
            code_prefix + "_SERVICE_UNRESOLVED",
            "critical",
            "Cannot resolve Compose service %r of project %r: %s" % (wanted, project, error),
            compose_project=project,
            service=wanted,
        )
        return None, True
    return None, False  # not a service of the project: the name is used as DNS resolves it


def verdict(check: Check, module: str, result: dict[str, Any], default_target: str, ok_phrase: str, ok: bool) -> str:
    """The module's one-line message: the critical codes and the first cause, or the success."""
    where = result.get("target") or default_target
    if result.get("resolved_address"):
        where += " (%s)" % result["resolved_address"]
    critical = check.codes("critical")
    if critical:
        first = next(f for f in check.findings if f["severity"] == "critical")
        text = "%s: %s at %s: %s" % (module, ", ".join(critical), where, first["message"])
    elif check.findings:
        text = "%s: %s at %s with findings: %s" % (module, ok_phrase, where, ", ".join(check.codes()))
    elif ok:
        text = "%s: %s at %s" % (module, ok_phrase, where)
    else:
        text = "%s: not checked at %s" % (module, where)
    return check.mask(one_line(text))


def probe_main(module_kwargs: dict[str, Any], library: str, import_error: str | None,
               run: Callable[[AnsibleModule], dict[str, Any]]) -> None:
    """main() of a store probe: its client library (and docker, to resolve a Compose service) must import;
    in enforce mode a critical finding fails the task, with the same result."""
    module = AnsibleModule(supports_check_mode=True, **module_kwargs)
    if import_error:
        module.fail_json(msg=missing_required_lib(library), exception=import_error)
    if module.params["compose_project"] and DOCKER_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("docker"), exception=DOCKER_IMPORT_ERROR)
    result = run(module)
    if module.params["mode"] == "enforce" and any(f["severity"] == "critical" for f in result["findings"]):
        module.fail_json(**result)
    module.exit_json(**result)
