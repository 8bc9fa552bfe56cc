#!/usr/bin/python
# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: copilotos_state
short_description: Read a copilotos host's live state once, judge it against the plan, take the run lock
description:
  - The one read of the live state per run. Checks the target (Python libraries), the project's files (the env
    file, the toolkit's compose override), asks Compose itself what the api service gets
    (C(docker compose config), which gives interpolation, several env files, and the C(environment) block
    over C(env_file)), inspects the containers, and reads the api image's source files to tell which
    generation of copilotos-bridge runs.
  - Turns that state and the plan into causes (severity, what, where, fix, who can fix it) and drift (the managed
    keys the env file lacks, whether the override is current, whether the api must be recreated) with the project's
    one rule engine.
  - Optionally takes the per-host run lock in the same call.
  - Refuses, with a message that names the problem and changing nothing, when the target's Python is older
    than 3.9 or lacks a library, the project directory or the env file is missing or not a regular file, the
    override exists and is not the toolkit's, the lock is held, Docker or Compose cannot be asked, or the api
    container is missing.
  - Never returns a secret. URLs in the evidence keep scheme, host, port and db, with only the password masked.
version_added: "1.0.0"
author:
  - copilotos-remediation contributors (!UNKNOWN)
options:
  plan:
    description: The run's plan (the C(copilotos_plan) fact).
    type: dict
    required: true
  redis_password:
    description: The real Redis password; compares the secret managed keys with the plan without returning them.
    type: str
  required_libs:
    description: Python libraries the project's modules import on the target.
    type: list
    elements: str
    default: [docker, redis, pymongo]
  lock:
    description: Take the run lock at C(plan.paths.lock_file) for C(plan.lock.owner) (only tested in check mode).
    type: bool
    default: false
  lock_stale_after:
    description: Seconds after which a lock is stale and reclaimed (also when its process is gone).
    type: int
    default: 3600
  lock_vouched:
    description:
      - A lock holder (C(machine_id), C(boot_id), C(host), C(pid), C(epoch)) that the controller checked on its own
        machine and found gone. The lock is reclaimed only if it still names exactly that holder.
      - Set by the action plugin of the same name, not by hand. When the controller is another machine, the target
        cannot see the holder's process, so without it only O(lock_stale_after) would reclaim a dead run's lock.
    type: dict
extends_documentation_fragment:
  - copilotos_docker
  - copilotos_docker.compose
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads only; in check mode the lock is tested, not taken.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Read the live state and take the run lock
  copilotos_state:
    plan: "{{ copilotos_plan }}"
    redis_password: "{{ copilotos_redis_password }}"
    lock: true
  register: copilotos_state
"""

RETURN = r"""
target:
  description: The target's Python version and host name.
  returned: always
  type: dict
env_file:
  description: Type, mode, owner of the env file, the line of each key, duplicates, a parse error if any (no values).
  returned: always
  type: dict
override:
  description: The toolkit's override file - exists, managed, current (equals what the plan renders).
  returned: always
  type: dict
compose:
  description: Compose's view - base files, files loaded now, the api's env files, the keys its environment block
    sets, the config hash a recreate would label.
  returned: success
  type: dict
containers:
  description: State of every container of the project (no environment).
  returned: success
  type: list
  elements: dict
api:
  description: The api container - id, name, status, health, started_at, config_hash, address, public settings.
  returned: success
  type: dict
app:
  description: The application generation detected from the image's source, its evidence and code advisories.
  returned: success
  type: dict
causes:
  description: The causes found (see docs/report-schema.md); symptoms come from the verification.
  returned: success
  type: list
  elements: dict
drift:
  description: pending_keys, shadowed_keys, override_current, recreate, change (anything to do), refuse (codes
    the toolkit must not apply over).
  returned: success
  type: dict
lock:
  description: The lock holder after the call, whether a stale lock was reclaimed, whether this call took it.
  returned: when lock is true
  type: dict
"""

import os
from typing import Any, NoReturn

from ansible.module_utils import copilotos_app as app
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.copilotos_common import ModuleFailure, finish, one_line
from ansible.module_utils.copilotos_compose import ComposeError, ComposeProject, split_command
from ansible.module_utils.copilotos_docker import (
    COMPOSE_ARGS,
    DOCKER_IMPORT_ERROR,
    DockerError,
    container_env,
    get_client,
)
from ansible.module_utils.copilotos_lock import LockBusy, LockError, acquire
from ansible.module_utils.copilotos_plan import PlanError, check_plan, managed_keys, secret_keys
from ansible.module_utils.copilotos_rules import RELEVANT_PUBLIC, evaluate
from ansible.module_utils.copilotos_state import (
    Raw,
    compose_files,
    container_facts,
    effective_view,
    missing_libs,
    newest_of,
    override_text,
    project_containers,
    python_too_old,
    read_container_files,
    read_env_file,
    read_override,
    service_environment,
    target_facts,
)


def refuse(module: AnsibleModule, msg: str, **facts: Any) -> NoReturn:
    """Stop: nothing was changed; ``refused`` tells the record step this run never reached the host's files."""
    raise ModuleFailure(msg, refused=True, **facts)


def env_type_message(path: str, facts: dict[str, Any]) -> str:
    found = {"missing": "nothing", "directory": "a directory", "symlink": "a symlink to %s" % facts.get("link_target"),
             "unreadable": "an unreadable file (%s)" % facts.get("error")}.get(facts["type"], "a special file")
    return "%s must be a regular file (found: %s)" % (path, found)


def run(module: AnsibleModule) -> dict[str, Any]:
    p = module.params
    too_old = python_too_old()
    if too_old:
        refuse(module, too_old, target=target_facts())
    try:
        plan = check_plan(p["plan"])
    except PlanError as exc:
        refuse(module, str(exc))
    paths = plan["paths"]
    host = plan.get("host", "?")
    out: dict[str, Any] = {"changed": False, "target": target_facts()}

    missing = missing_libs(p["required_libs"])
    if missing:
        refuse(module, "The target's Python (%s) lacks %s: %s. Run playbooks/bootstrap.yml (role copilotos_venv) to "
               "create a virtualenv with them, and point ansible_python_interpreter at it."
               % (out["target"]["python"], ", ".join(m["name"] for m in missing),
                  "; ".join(m["error"] for m in missing)), missing_libs=missing, **out)
    if not os.path.isdir(paths["project_dir"]):
        refuse(module, "copilotos_project_dir %s does not exist on %s" % (paths["project_dir"], host), **out)

    raw = Raw()
    env_facts = read_env_file(paths["env_file"], raw)
    out["env_file"] = env_facts
    if env_facts["type"] != "file":
        refuse(module, env_type_message(paths["env_file"], env_facts), **out)
    if env_facts.get("parse_error"):
        err = env_facts["parse_error"]
        refuse(module, "cannot parse %s: line %s: %s" % (paths["env_file"], err["line"], err["reason"]), **out)

    override = read_override(paths.get("override_file"))
    override_body = override.pop("text", None)
    out["override"] = override
    if override["type"] == "file" and not override["managed"]:
        refuse(module, "%s exists and is not managed by copilotos-remediation; set copilotos_env_override_file to "
               "another name (and add it with -f) or merge it by hand" % paths["override_file"], **out)
    if override["type"] not in ("file", "missing", "none"):
        refuse(module, "%s must be a regular file or absent (found: %s)" % (paths["override_file"], override["type"]),
               **out)

    lock = None
    if p["lock"]:
        try:
            lock = acquire(paths["lock_file"], plan["lock"]["owner"], p["lock_stale_after"], module.check_mode,
                           vouched=p["lock_vouched"])
        except LockBusy as exc:
            refuse(module, str(exc), holder=exc.holder, **out)
        except LockError as exc:
            refuse(module, str(exc), **out)
        if lock["reclaimed"]:
            module.warn("reclaiming a stale lock %s (%s)" % (paths["lock_file"], lock["reclaim_reason"]))
        out["lock"] = lock

    if DOCKER_IMPORT_ERROR:  # listed in required_libs by default; a caller may have dropped it
        refuse(module, "the Python 'docker' library is missing on the target", **out)
    try:
        command = split_command(p["compose_command"])
    except ComposeError as exc:
        refuse(module, str(exc), **out)
    files = compose_files(paths)
    out["compose"] = {"base": files["base"], "current": files["current"]}
    if not files["base"] or files["missing"]:
        refuse(module, "no compose file for Compose project %s in %s (looked for %s)" % (
            plan["compose"]["project"], paths["compose_project_dir"],
            ", ".join(files["missing"]) or "compose.yaml, docker-compose.yml, ..."), **out)
    service = plan["compose"]["service"]
    environ = {"DOCKER_HOST": p["docker_host"]} if p["docker_host"] else {}
    secrets = [s for s in [p["redis_password"]] if s]

    def project(file_list: list[str]) -> ComposeProject:
        return ComposeProject(module.run_command, command, plan["compose"]["project"], paths["compose_project_dir"],
                              file_list, environ=environ, secrets=secrets)

    try:
        raw.environment_block, env_files = service_environment(project(files["base"]), service)
        raw.effective, config_hash, image = effective_view(project(files["current"]), service)
    except ComposeError as exc:
        refuse(module, "Compose cannot load project %s: %s" % (plan["compose"]["project"], exc), **out)
    out["compose"].update(env_files=env_files, environment_keys=[k for k, _v in raw.environment_block],
                          config_hash=config_hash, image=image)
    if paths["env_file"] not in env_files:
        module.warn("the api service does not read %s (its env files: %s): the toolkit's changes to it reach nothing"
                    % (paths["env_file"], ", ".join(env_files) or "none"))
    expected = override_text(plan, raw.environment_block)
    override["needed"] = expected is not None
    override["current"] = (override_body == expected) if expected is not None else override["type"] != "file"

    try:
        client = get_client(p["docker_host"])
        containers = project_containers(client, plan["compose"]["project"])
    except DockerError as exc:
        refuse(module, str(exc), **out)
    except Exception as exc:
        refuse(module, "cannot list the containers of %s: %s" % (plan["compose"]["project"], one_line(exc, 200)),
               **out)
    facts_list = sorted((container_facts(c) for c in containers), key=lambda s: str(s.get("service")))
    out["containers"] = facts_list
    api_container = newest_of(containers, service)
    if api_container is None:
        refuse(module, "Compose project %s has no %s container on %s: bring the stack up first (docker compose up -d)"
               % (plan["compose"]["project"], service, host), **out)
    raw.container = container_env(api_container)
    api = next(s for s in facts_list if s["id"] == api_container.id)
    public_keys = [k for k in managed_keys(plan) if k not in secret_keys(plan)] + list(RELEVANT_PUBLIC)
    api["settings"] = {k: raw.container.get(k) for k in public_keys if k in raw.container}
    out["api"] = api

    # The application's source, read from the images as an operator would
    # (docker cp): which generation runs, and the code defects to report.
    by_service: dict[str, dict[str, str]] = {}
    for name, where in app.SOURCE_FILES.items():
        by_service.setdefault(where["service"], {})[name] = where["path"]
    raw.sources = {}
    for svc, files in sorted(by_service.items()):
        container = api_container if svc == "api" else newest_of(containers, svc)
        if container is None:
            raw.sources.update({name: None for name in files})
        else:
            raw.sources.update(read_container_files(container, files))
    detected = app.detect_generation(raw.sources)
    out["app"] = {"generation": detected.get("generation"), "evidence": detected.get("evidence") or [],
                  "advisories": app.code_advisories(raw.sources)}

    facts = dict(out)
    facts["env_file"] = dict(env_facts, path=paths["env_file"])
    causes, drift = evaluate(plan, p["redis_password"], facts, raw)
    out["causes"] = causes
    out["drift"] = drift
    out["msg"] = "%s: %d cause(s) (%s); %s" % (
        host, len(causes), ", ".join(c["code"] for c in causes if c["severity"] != "info") or "none at low or above",
        "changes pending: %s" % ", ".join(drift["pending_keys"] + ([] if override["current"] else ["override"])
                                          + (["recreate"] if drift["recreate"] else []))
        if drift["change"] else "nothing to change")
    return out


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            plan=dict(type="dict", required=True),
            redis_password=dict(type="str", no_log=True),
            required_libs=dict(type="list", elements="str", default=["docker", "redis", "pymongo"]),
            lock=dict(type="bool", default=False),
            lock_stale_after=dict(type="int", default=3600),
            lock_vouched=dict(type="dict"),
            **COMPOSE_ARGS,
        ),
        supports_check_mode=True,
    )
    finish(module, run)


if __name__ == "__main__":
    main()
