#!/usr/bin/python
# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: compose_apply
short_description: Bring one Docker Compose service to its configured state and wait until it is healthy
description:
  - Runs C(docker compose up -d --no-deps SERVICE) so Compose recreates the service container when its rendered
    configuration (image, command, environment after C(env_file) and interpolation, ...) changed, or always when
    O(recreate=always).
  - Then waits through the Docker API until the container is C(healthy), or C(running) when it has no healthcheck.
  - Predicts the change without touching anything. It renders the service with C(docker compose config --format json)
    (read-only), hashes that rendering the way C(up) does and compares it with the container's
    C(com.docker.compose.config-hash) label, the image id and the environment. The prediction is returned in every
    mode as RV(would_recreate), RV(recreate_reasons) and RV(drift_keys).
version_added: "0.1.0"
author: copilotos-remediation contributors (!UNKNOWN)
options:
  plan:
    description:
      - The remediation's plan (the C(copilotos_plan) fact). Gives O(project_dir), O(project_name), O(service) and
        O(files) - the project's compose files and the toolkit's override when it exists - so that every step of
        the run uses the same ones.
    type: dict
  project_dir:
    description: Directory of the Compose project (C(--project-directory)); must exist. Required without O(plan).
    type: path
  project_name:
    description: Compose project name (C(-p)). Required without O(plan).
    type: str
  service:
    description: The one service to apply. Its dependencies are not touched (C(--no-deps)). Required without O(plan).
    type: str
  files:
    description:
      - Compose files, relative to O(project_dir) or absolute, passed as C(-f) in this order.
      - When omitted, Compose's default discovery applies (C(compose.yaml) or C(docker-compose.yml), plus
        C(docker-compose.override.yml)).
    type: list
    elements: path
  env_files:
    description:
      - Files passed as C(--env-file), used for interpolation of C(${VAR}) in the Compose files.
      - Relative to O(project_dir) or absolute. When omitted Compose reads C(.env) in O(project_dir).
      - These are not the service's C(env_file) entries, which Compose reads itself on every C(up).
    type: list
    elements: path
  recreate:
    description:
      - V(auto) lets Compose recreate the container only when its configuration changed.
      - V(always) adds C(--force-recreate).
    type: str
    choices: [auto, always]
    default: auto
  wait_timeout:
    description: Seconds to wait for the container to become healthy (or running) after C(up).
    type: int
    default: 120
  secrets:
    description: Extra strings to mask in messages (values of secret-looking environment keys are masked anyway).
    type: list
    elements: str
extends_documentation_fragment:
  - copilotos_docker
  - copilotos_docker.compose
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Never calls C(up), not even C(--dry-run); predicts from C(docker compose config) and the Docker API.
  diff_mode:
    support: partial
    details: Shows container id, config hash and image id before and after, and the names of drifted keys; never values.
  platform:
    platforms: posix
notes:
  - This module never uses C(docker restart) or C(docker compose restart). A restart keeps the container and its
    environment as created, so it does B(not) re-read C(env_file) or C(.env) changes. The module recreates the
    container with C(up -d) instead, which re-reads C(env_file) and re-interpolates the Compose files.
  - C(docker compose config --hash SERVICE) alone is not used for the prediction, because it does not resolve
    C(env_file) (Compose 2.40) and so neither matches the container label nor changes when an env file value
    changes. The module hashes the rendered model instead, which matches the label exactly.
  - A container that exists but is not running is reported as RV(would_recreate) with reason C(not_running),
    because C(up) starts it again and its C(StartedAt) changes.
requirements:
  - docker (Python SDK)
  - Docker Compose v2 CLI plugin
"""

EXAMPLES = r"""
- name: Apply the api service after its env file changed
  compose_apply:
    project_dir: /srv/copilotos
    project_name: copilotos
    service: api
    files:
      - docker-compose.yml
      - docker-compose.override.yml
    wait_timeout: 180
  register: api_apply

- name: Predict only
  compose_apply:
    project_dir: /srv/copilotos
    project_name: copilotos
    service: api
  check_mode: true
  register: api_plan

- name: Show what would change (key names only)
  ansible.builtin.debug:
    msg: "{{ api_plan.recreate_reasons }} {{ api_plan.drift_keys }}"
"""

RETURN = r"""
recreated:
  description: Whether the container id or its StartedAt changed (created, recreated or started).
  returned: always
  type: bool
would_recreate:
  description: The prediction made before acting (in check mode, the only answer).
  returned: always
  type: bool
recreate_reasons:
  description:
    - Why the prediction says so; any of C(container_missing), C(forced), C(config_hash), C(image), C(image_missing),
      C(environment), C(not_running).
  returned: always
  type: list
  elements: str
drift_keys:
  description: Names of environment keys whose container value differs from the rendered configuration (no values).
  returned: always
  type: list
  elements: str
  sample: [REDIS_URL, CORS_ORIGINS]
config_hash_before:
  description: The container's C(com.docker.compose.config-hash) label before, if any.
  returned: always
  type: str
config_hash_rendered:
  description: The hash of the current rendered configuration (what C(up) will label the container with).
  returned: always
  type: str
container_id_before:
  description: Container id before (null when there was none).
  returned: always
  type: str
container_id_after:
  description: Container id after (in check mode, the id before).
  returned: always
  type: str
started_at_before:
  description: C(State.StartedAt) before.
  returned: always
  type: str
started_at_after:
  description: C(State.StartedAt) after (in check mode, the value before).
  returned: always
  type: str
health:
  description: C(healthy), C(unhealthy), C(starting) or C(none) (no healthcheck).
  returned: always
  type: str
last_health_output:
  description: The last health-check output, masked, when the container is not healthy.
  returned: on failure
  type: str
last_error_logged:
  description: The container's last log line reading as an error (masked), when it is not healthy; names the cause.
  returned: on failure
  type: str
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.copilotos_common import ModuleFailure, finish
from ansible.module_utils.copilotos_compose import (
    CONFIG_HASH_LABEL,
    IMAGE_LABEL,
    ComposeError,
    ComposeProject,
    env_drift,
    first_error_line,
    mask_output,
    predict,
    rendered_env,
    rendered_image,
    rendered_service,
    secret_values,
    split_command,
    wait_healthy,
)
from ansible.module_utils.copilotos_docker import (
    COMPOSE_ARGS,
    DOCKER_IMPORT_ERROR,
    DockerError,
    NotFound,
    container_env,
    container_state,
    get_client,
    service_containers,
)
from ansible.module_utils.copilotos_plan import PlanError, check_plan
from ansible.module_utils.copilotos_state import compose_files


def image_info(client, name):
    """(image id, image env) of a local image, or (None, {}) when it is not present."""
    try:
        image = client.images.get(name)
    except NotFound:
        return None, {}
    env = dict(item.partition("=")[::2] for item in (image.attrs.get("Config") or {}).get("Env") or [])
    return image.id, env


def last_error_logged(client, container_id, secrets, tail=200):
    """The container's last log line that reads as an error (masked, one line), or "" (tells why it is unhealthy)."""
    if not container_id:
        return ""
    try:
        raw = client.containers.get(container_id).logs(tail=tail, stdout=True, stderr=True)
    except Exception:  # best effort: the health failure is reported either way
        return ""
    return pick_error_line(raw.decode("utf-8", "replace").splitlines(), secrets)


def pick_error_line(lines, secrets):
    """The last line that reads as an error, masked and on one line, or "".

    Indented lines are skipped: in a Python traceback they are the frames
    (``File ".../errors.py", line 3``) and the source, while the cause is the
    unindented last line (``ValueError: ...``).
    """
    for line in reversed(lines):
        if line[:1].isspace() or line.startswith("Traceback (most recent call last)"):
            continue
        if re.search(r"error|exception|failed|refused", line, re.IGNORECASE):
            return " ".join(mask_output(line, secrets).split())[:300]
    return ""


def newest(client, project, service):
    found = service_containers(client, project, service)
    return found[0] if found else None


def from_plan(params):
    """Take project, directory, service and files from the plan (one source for every step)."""
    plan = check_plan(params["plan"])
    paths = plan["paths"]
    params.update(project_dir=paths["compose_project_dir"], project_name=plan["compose"]["project"],
                  service=plan["compose"]["service"], files=compose_files(paths)["current"])


def run(module):
    p = module.params
    if p["plan"] is not None:
        try:
            from_plan(p)
        except PlanError as exc:
            raise ModuleFailure("compose_apply: %s" % exc) from None
    service, name = p["service"], p["project_name"]
    where = "service %s of Compose project %s" % (service, name)
    project_dir = os.path.abspath(p["project_dir"])  # type path (or the plan's absolute path): already expanded
    if not os.path.isdir(project_dir):
        raise ModuleFailure("compose_apply: project_dir %s does not exist" % project_dir)
    command = split_command(p["compose_command"])
    if not (module.get_bin_path(command[0]) or os.access(command[0], os.X_OK)):
        raise ModuleFailure("compose_apply: compose binary %r not found on PATH" % command[0])

    def absolute(paths):
        return [os.path.join(project_dir, x) for x in paths or []]  # elements path: already expanded

    environ = {"DOCKER_HOST": p["docker_host"]} if p["docker_host"] else {}
    project = ComposeProject(
        module.run_command,
        command,
        name,
        project_dir,
        absolute(p["files"]),
        absolute(p["env_files"]),
        environ,
        secrets=p["secrets"],
    )
    rc, _out, err = module.run_command([*command, "version"], environ_update=environ, expand_user_and_vars=False)
    if rc != 0:
        raise ModuleFailure(
            msg="compose_apply: %r is not a working Compose v2 CLI: %s"
            % (" ".join(command), mask_output(first_error_line(err), []))
        )
    client = get_client(p["docker_host"])

    model, raw = project.render(service)
    svc = rendered_service(model, service)
    env = rendered_env(svc)
    project.secrets = secret_values(env, p["secrets"])
    rhash = project.rendered_hash(raw, service)
    image_id, image_env = image_info(client, rendered_image(svc, name, service))

    container = newest(client, name, service)
    before = container_state(container) if container else None
    labels = (container.labels or {}) if container else {}
    drift = env_drift(env, container_env(container), image_env) if container else []
    would, reasons = predict(before, labels, rhash, image_id, drift, p["recreate"])

    before = before or {}
    result = {
        "changed": False,
        "recreated": False,
        "would_recreate": would,
        "recreate_reasons": reasons,
        "drift_keys": drift,
        "config_hash_before": labels.get(CONFIG_HASH_LABEL),
        "config_hash_rendered": rhash,
        "container_id_before": before.get("id"),
        "started_at_before": before.get("started_at"),
        "container_id_after": before.get("id"),
        "started_at_after": before.get("started_at"),
        "health": before.get("health"),
    }
    after = before
    if module.check_mode:
        result["changed"] = would
    else:
        project.up(service, p["recreate"])

        def fetch():
            current = newest(client, name, service)
            return container_state(current) if current else None

        try:
            after = wait_healthy(fetch, p["wait_timeout"])
        except ComposeError as exc:
            state = getattr(exc, "state", None) or {}
            output = mask_output(state.get("last_health_output", ""), project.secrets)
            result.update(
                container_id_after=state.get("id"),
                started_at_after=state.get("started_at"),
                health=state.get("health"),
                recreated=state.get("id") != before.get("id") or state.get("started_at") != before.get("started_at"),
                last_health_output=output,
            )
            result["changed"] = result["recreated"]
            logged = last_error_logged(client, state.get("id"), project.secrets)
            result["last_error_logged"] = logged
            raise ModuleFailure(
                msg="compose_apply: %s %s after up (status %s, %s restart(s)); last health check: %s%s"
                % (
                    where,
                    exc,
                    state.get("status"),
                    state.get("restart_count", 0),
                    " ".join(output.split())[:300] or "(none)",
                    "; last error logged: %s" % logged if logged else "",
                ),
                **result,
            ) from None
        recreated = after.get("id") != before.get("id") or after.get("started_at") != before.get("started_at")
        result.update(
            changed=recreated,
            recreated=recreated,
            container_id_after=after.get("id"),
            started_at_after=after.get("started_at"),
            health=after.get("health"),
        )
    if module._diff:
        after_id = after.get("id")
        if module.check_mode and would:
            after_id = "(new container)"
        result["diff"] = {
            "before": {
                "container_id": before.get("id"),
                "config_hash": labels.get(CONFIG_HASH_LABEL),
                "image_id": labels.get(IMAGE_LABEL),
            },
            "after": {"container_id": after_id, "config_hash": rhash, "image_id": image_id, "drift_keys": drift},
        }
    return result


def run_guarded(module):
    """run(), with the Compose and Docker errors as failures that name the project and service."""
    try:
        return run(module)
    except (ComposeError, DockerError) as exc:
        p = module.params
        raise ModuleFailure("compose_apply: %s/%s: %s" % (p["project_name"], p["service"], exc)) from None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            plan=dict(type="dict"),
            project_dir=dict(type="path"),
            project_name=dict(type="str"),
            service=dict(type="str"),
            files=dict(type="list", elements="path"),
            env_files=dict(type="list", elements="path"),
            recreate=dict(type="str", default="auto", choices=["auto", "always"]),
            wait_timeout=dict(type="int", default=120),
            **COMPOSE_ARGS,
            secrets=dict(type="list", elements="str", no_log=True),
        ),
        required_one_of=[("plan", "project_dir")],
        required_together=[("project_dir", "project_name", "service")],
        mutually_exclusive=[("plan", "project_dir"), ("plan", "files")],
        supports_check_mode=True,
    )
    if DOCKER_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("docker"), exception=DOCKER_IMPORT_ERROR)
    finish(module, run_guarded)


if __name__ == "__main__":
    main()
