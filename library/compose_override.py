#!/usr/bin/python
# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: compose_override
short_description: Write the compose override that stops the api's environment block from shadowing the env file
description:
  - The api service's C(environment:) block wins over its C(env_file:). For every key the toolkit manages in the
    env file that the block also sets, editing the env file changes nothing. This module asks Compose for the
    merged block of the project's compose files (entries as written, C(${VAR}) kept) and writes an override that
    restates it with C(!override) minus the managed keys, so those come from the env file.
  - "Why not a per-key C(!reset): Compose ignores it when the base file writes the block as a list (verified with
    Compose v2.40.3)."
  - The file is written atomically, mode 0600 (it may restate values of the compose file), only when its content
    differs. When no managed key is shadowed the toolkit's override is removed (only if it carries the marker).
  - Reads the block on the target, so no value of the compose file travels through the controller.
version_added: "1.0.0"
author:
  - copilotos-remediation contributors (!UNKNOWN)
options:
  plan:
    description: The run's plan (the C(copilotos_plan) fact); gives the compose files, the override path, the
      service and the managed keys.
    type: dict
    required: true
extends_documentation_fragment:
  - copilotos_docker
  - copilotos_docker.compose
  - action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: Values of secret-looking keys are masked in the diff.
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Reset the compose entries that shadow the managed keys
  compose_override:
    plan: "{{ copilotos_plan }}"
"""

RETURN = r"""
path:
  description: The override file.
  returned: always
  type: str
shadowed_keys:
  description: Managed keys the compose environment block sets (taken out by the override).
  returned: always
  type: list
  elements: str
state:
  description: C(written), C(current), C(removed) or C(absent).
  returned: always
  type: str
"""

import os
import re
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.copilotos_common import MASK, ModuleFailure, atomic_write, finish, one_line
from ansible.module_utils.copilotos_compose import ComposeError, ComposeProject, split_command
from ansible.module_utils.copilotos_docker import COMPOSE_ARGS
from ansible.module_utils.copilotos_plan import PlanError, check_plan
from ansible.module_utils.copilotos_state import (
    compose_files,
    override_text,
    read_override,
    service_environment,
    shadowed_keys,
)

SECRET_LINE = re.compile(r'^(\s+"[^"]*(?:PASS|SECRET|TOKEN|KEY|CREDENTIAL|_URL|_URI|DSN)[^"]*":\s*).*$', re.IGNORECASE)


def masked(text: str) -> str:
    return "\n".join(SECRET_LINE.sub(lambda m: m.group(1) + '"%s"' % MASK, line) for line in text.splitlines()) + (
        "\n" if text else "")


def run(module: AnsibleModule) -> dict[str, Any]:
    p = module.params
    try:
        plan = check_plan(p["plan"])
    except PlanError as exc:
        raise ModuleFailure(str(exc)) from None
    paths = plan["paths"]
    path = paths.get("override_file")
    if not path:
        return {"changed": False, "path": None, "shadowed_keys": [], "state": "absent",
                "msg": "the plan manages no override (copilotos_env_override_enabled is false)"}
    files = compose_files(paths)
    if not files["base"] or files["missing"]:
        raise ModuleFailure("no compose file in %s to read the api's environment from" % paths["compose_project_dir"])
    project = ComposeProject(module.run_command, split_command(p["compose_command"]), plan["compose"]["project"],
                             paths["compose_project_dir"], files["base"],
                             environ={"DOCKER_HOST": p["docker_host"]} if p["docker_host"] else {})
    try:
        entries, _env_files = service_environment(project, plan["compose"]["service"])
    except ComposeError as exc:
        raise ModuleFailure("compose_override: %s" % exc) from None
    current = read_override(path)
    if current["type"] == "file" and not current["managed"]:
        raise ModuleFailure("%s exists and is not managed by copilotos-remediation; refusing to overwrite it" % path)
    before = current.pop("text", None)
    after = override_text(plan, entries)
    shadowed = shadowed_keys(plan, entries)
    result: dict[str, Any] = {"path": path, "shadowed_keys": shadowed}
    if after == before or (after is None and before is None):
        result.update(changed=False, state="current" if after else "absent",
                      msg="%s is current" % path if after else "no managed key is shadowed: no override needed")
        return result
    if module._diff:
        result["diff"] = {"before": masked(before or ""), "after": masked(after or ""),
                          "before_header": path if before is not None else "%s (absent)" % path,
                          "after_header": path if after is not None else "%s (removed)" % path}
    if not module.check_mode:
        try:
            if after is None:
                os.unlink(path)
            else:
                atomic_write(path, after.encode("utf-8"), mode=0o600)
        except OSError as exc:
            raise ModuleFailure("cannot write %s: %s" % (path, one_line(exc.strerror or exc)), **result) from None
    result.update(changed=True, state="written" if after else "removed",
                  msg="%s %s (shadowed: %s)" % (path, "written" if after else "removed", ", ".join(shadowed) or "none"))
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            plan=dict(type="dict", required=True),
            **COMPOSE_ARGS,
        ),
        supports_check_mode=True,
    )
    finish(module, run)


if __name__ == "__main__":
    main()
