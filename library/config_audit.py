#!/usr/bin/python
# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: config_audit
short_description: Audit the copilotos api configuration against the remediation plan
description:
  - Reads the api's env file and the running containers of the Compose project, and reports findings with
    stable codes, severity and masked evidence, like the production diagnosis does.
  - "Checks: CORS origins (parseable JSON list, production origins present), SAPTIVA timeouts (plan and
    connect < read <= total), MongoDB pool and server-selection timeout, rate limit, env file permissions,
    containers that are unhealthy or restarting, the running api's environment against the file (drift),
    and whether the compose file still overrides C(REDIS_URL)."
  - "With O(project_dir) it is also the preflight check, in one call: the target's Python libraries, the
    project directory, the env file's type (a regular file, not a symlink or a directory) and whether the
    compose override is managed by this toolkit. When one of these is wrong it returns RV(inspected=false)
    with the facts in RV(project) and RV(missing_libs) instead of failing, so the playbook can fail with
    a message that names the problem."
  - Read-only; never changes anything.
version_added: "0.1.0"
author: copilotos-remediation contributors
options:
  path:
    description: The api's env file (C(.env.production)).
    type: path
    required: true
  project_name:
    description: The Compose project name.
    type: str
    required: true
  service:
    description: The api service.
    type: str
    default: api
  override_file:
    description: The compose override file that resets C(REDIS_URL); used to tell a missing fix from drift.
    type: path
  desired:
    description:
      - Managed keys and their desired values; RV(pending_keys) names those that differ in the file.
      - Put secret values in O(desired_secret) instead, so that short plain values (C(5), C(50)) are not
        masked all over the result by Ansible's no_log handling.
    type: dict
    default: {}
  desired_secret:
    description: Like O(desired), for the keys whose values are secrets (never returned).
    type: dict
    default: {}
  secret_keys:
    description: Keys whose values never appear in evidence.
    type: list
    elements: str
    default: [REDIS_URL, REDIS_PASSWORD, MONGODB_URL, MONGODB_PASSWORD]
  plan:
    description: Thresholds of the plan (see C(DEFAULT_PLAN) in module_utils copilotos_audit).
    type: dict
    default: {}
  docker_host:
    description: Docker daemon URL; the default socket when unset.
    type: str
  project_dir:
    description:
      - The Compose project directory. Set it to run the preflight checks (see the description); without
        it a missing or irregular env file fails the module.
    type: path
  required_libs:
    description: Python libraries that must import on the target (preflight only).
    type: list
    elements: str
    default: []
  override_marker:
    description: Text that marks the override file as managed by this toolkit (preflight only).
    type: str
    default: copilotos-remediation
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
requirements:
  - docker (Python SDK)
"""

EXAMPLES = r"""
- name: Audit the api configuration
  config_audit:
    path: /srv/copilotos/.env.production
    project_name: copilotos
    override_file: /srv/copilotos/docker-compose.override.yml
  register: audit
"""

RETURN = r"""
findings:
  description: Findings with C(code), C(severity), C(message) and masked C(evidence).
  returned: always
  type: list
  elements: dict
pending_keys:
  description: Names of the keys in O(desired) whose value in the file differs.
  returned: always
  type: list
  elements: str
containers:
  description: State of every container of the project (service, status, health, started_at, uptime_s, image).
  returned: always
  type: list
  elements: dict
api:
  description: The api container's id, status, health and StartedAt.
  returned: always
  type: dict
file_mode:
  description: The env file's permission bits, as an octal string.
  returned: when inspected
  type: str
inspected:
  description: False when a preflight check stopped the audit (see RV(missing_libs) and RV(project)).
  returned: always
  type: bool
missing_libs:
  description: The O(required_libs) that do not import, each with its import error.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "pymongo", "error": "No module named 'pymongo'"}]
project:
  description:
    - Preflight facts (with O(project_dir)). C(dir_exists); C(env_file) with C(path), C(type)
      (C(file), C(directory), C(symlink), C(missing) or C(special)) and C(link_target);
      C(override) with C(path), C(exists) and C(managed).
  returned: when O(project_dir) is set and the O(required_libs) import
  type: dict
"""

import importlib
import os
import stat
from datetime import UTC, datetime

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.copilotos_audit import (
    DEFAULT_PLAN,
    audit_containers,
    audit_cors,
    audit_drift,
    audit_file_mode,
    audit_mongo_pool,
    audit_rate_limit,
    audit_timeouts,
    pending_keys,
)
from ansible.module_utils.copilotos_docker import (
    DOCKER_IMPORT_ERROR,
    PROJECT_LABEL,
    SERVICE_LABEL,
    DockerError,
    container_env,
    container_state,
    get_client,
)
from ansible.module_utils.copilotos_env import EnvParseError, parse_env


def uptime(started_at: str | None) -> int | None:
    if not started_at or started_at.startswith("0001"):
        return None
    stamp = datetime.fromisoformat(started_at[:26].rstrip("Z") + "+00:00")
    return int((datetime.now(UTC) - stamp).total_seconds())


def missing_libs(names: list[str]) -> list[dict[str, str]]:
    out = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # ImportError, or a broken install raising anything at import
            out.append({"name": name, "error": "%s: %s" % (type(exc).__name__, exc)})
    return out


def file_type(path: str) -> tuple[str, str | None]:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return "missing", None
    if stat.S_ISLNK(info.st_mode):
        return "symlink", os.path.realpath(path)
    if stat.S_ISDIR(info.st_mode):
        return "directory", None
    if stat.S_ISREG(info.st_mode):
        return "file", None
    return "special", None


def read_text(path: str | None) -> str | None:
    """A text file's content, or None when there is no such file."""
    if not path or not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def project_facts(
    project_dir: str, path: str, override_file: str | None, override_text: str | None, marker: str
) -> dict[str, object]:
    kind, target = file_type(path)
    facts: dict[str, object] = {
        "dir_exists": os.path.isdir(project_dir),
        "env_file": {"path": path, "type": kind, "link_target": target},
    }
    if override_file:
        exists = override_text is not None
        managed = marker in override_text if override_text is not None else None
        facts["override"] = {"path": override_file, "exists": exists, "managed": managed}
    return facts


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            project_name=dict(type="str", required=True),
            service=dict(type="str", default="api"),
            override_file=dict(type="path"),
            desired=dict(type="dict", default={}),
            desired_secret=dict(type="dict", default={}, no_log=True),
            secret_keys=dict(
                type="list",
                elements="str",
                default=["REDIS_URL", "REDIS_PASSWORD", "MONGODB_URL", "MONGODB_PASSWORD"],
                no_log=False,
            ),
            plan=dict(type="dict", default={}),
            docker_host=dict(type="str"),
            project_dir=dict(type="path"),
            required_libs=dict(type="list", elements="str", default=[]),
            override_marker=dict(type="str", default="copilotos-remediation"),
        ),
        supports_check_mode=True,
    )
    p = module.params

    def not_inspected(**facts: object) -> None:
        """Stop early, without failing, so that the playbook names the problem."""
        module.exit_json(changed=False, inspected=False, findings=[], pending_keys=[], containers=[], api={}, **facts)

    missing = missing_libs(p["required_libs"])
    if missing:
        not_inspected(missing_libs=missing)
    # Read once: the preflight's ownership check and the drift audit both need it.
    override_text = read_text(p["override_file"])
    facts = None
    if p["project_dir"]:
        facts = project_facts(p["project_dir"], p["path"], p["override_file"], override_text, p["override_marker"])
        env_type = facts["env_file"]["type"]  # type: ignore[index]
        if not facts["dir_exists"] or env_type != "file":
            not_inspected(missing_libs=[], project=facts)
    if DOCKER_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("docker"), exception=DOCKER_IMPORT_ERROR)
    plan = dict(DEFAULT_PLAN, **p["plan"])
    path = p["path"]
    if not os.path.isfile(path):
        module.fail_json(msg="env file %s does not exist or is not a regular file" % path)
    try:
        with open(path, "rb") as handle:
            env = parse_env(handle.read().decode("utf-8"))
    except EnvParseError as exc:
        module.fail_json(msg="cannot parse %s: %s" % (path, exc))
    except UnicodeDecodeError:
        module.fail_json(msg="env file %s is not UTF-8 text" % path)
    values = {key: value.text for key, value in env.effective().items()}
    mode = os.stat(path).st_mode & 0o7777

    try:
        client = get_client(p["docker_host"])
        containers = client.containers.list(all=True, filters={"label": "%s=%s" % (PROJECT_LABEL, p["project_name"])})
    except DockerError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:
        module.fail_json(
            msg="cannot list the containers of %s: %s" % (p["project_name"], " ".join(str(exc).split())[:200])
        )

    states = []
    api_container = None
    for container in containers:
        state = container_state(container)
        state["service"] = container.labels.get(SERVICE_LABEL)
        state["uptime_s"] = uptime(state.get("started_at")) if state.get("status") == "running" else None
        state.pop("last_health_output", None) if state.get("health") in ("healthy", "none") else None
        states.append(state)
        if state["service"] == p["service"] and api_container is None:
            api_container = container
    states.sort(key=lambda s: str(s.get("service")))

    secret_keys = p["secret_keys"]
    findings = []
    findings += audit_file_mode(mode)
    findings += audit_cors(values, plan, os.path.basename(path))
    findings += audit_timeouts(values, plan)
    findings += audit_mongo_pool(values, plan)
    findings += audit_rate_limit(values, plan)
    findings += audit_containers(states)
    api = {}
    if api_container is not None:
        running_env = container_env(api_container)
        override_in_place = override_text is not None and "REDIS_URL: !reset" in override_text
        findings += audit_drift(values, running_env, secret_keys, override_in_place)
        cors_running = audit_cors(running_env, plan, "the running api")
        if cors_running and not any(f["code"] == c["code"] for f in findings for c in cors_running):
            findings += cors_running
        api = {k: v for k, v in container_state(api_container).items() if k in ("id", "status", "health", "started_at")}
    else:
        findings.append(
            {
                "code": "CONTAINER_UNHEALTHY",
                "severity": "critical",
                "message": "no container for service %s in project %s" % (p["service"], p["project_name"]),
                "evidence": {"service": p["service"]},
            }
        )

    extra = {"project": facts} if facts is not None else {}
    module.exit_json(
        changed=False,
        inspected=True,
        missing_libs=[],
        findings=findings,
        pending_keys=pending_keys(values, dict(p["desired"], **p["desired_secret"])),
        containers=states,
        api=api,
        file_mode="%04o" % mode,
        **extra,
    )


if __name__ == "__main__":
    main()
