#!/usr/bin/python
# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: metrics_textfile
short_description: Write a copilotos run's Prometheus metrics for node_exporter's textfile collector
description:
  - Renders the metrics of one run (findings by severity and by code, drift, mode and result, the time of
    the run, the api recreate counter; names and labels in docs/metrics.md) and writes them to O(path)
    atomically (a temp file in the same directory, then a rename), with O(mode).
  - The recreate counter C(copilotos_api_recreates_total) counts the runs of O(log_file) (the host's
    remediation log) that restarted the api; the previous file's value is a floor, so it never decreases.
  - O(path)'s directory is never created (node_exporter's package owns it). A missing directory, a write
    that fails or a text holding one of O(secrets) is a warning, never a failure, and nothing is written.
  - C(changed) means the metrics changed (findings, drift, result, counter). The run-time sample changes on
    every run; when it is the only difference, the file is still rewritten (so its age shows the last run)
    but the task reports C(changed=false).
version_added: "0.3.0"
author:
  - copilotos-remediation contributors (@copilotos-remediation)
options:
  path:
    description: The textfile, for example C(/var/lib/prometheus/node-exporter/copilotos_lab1.prom).
    type: path
    required: true
  run:
    description: The host's C(copilotos_run) record (docs/report-schema.md).
    type: dict
    required: true
  drift:
    description: Whether the state read found anything to change (C(copilotos_state.drift.change)).
    type: bool
    default: false
  log_file:
    description: The host's remediation log (C(copilotos_plan.paths.log_file)), read only.
    type: path
  mode:
    description: File mode of the textfile.
    type: raw
    default: "0644"
  secrets:
    description: Values that must never appear in the textfile. C(no_log).
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - action_common_attributes
attributes:
  platform:
    platforms: posix
  check_mode:
    support: full
    details: In check mode nothing is written; C(changed) and the diff say what would change.
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: textfile | Write the run's metrics for node_exporter
  metrics_textfile:
    path: /var/lib/prometheus/node-exporter/copilotos_lab1.prom
    run: "{{ copilotos_run }}"
    drift: "{{ copilotos_state.drift.change | default(false) }}"
    log_file: "{{ copilotos_plan.paths.log_file }}"
    secrets: ["{{ copilotos_redis_password }}"]
"""

RETURN = r"""
written:
  description: Whether the file was (re)written.
  returned: always
  type: bool
path:
  description: The textfile.
  returned: always
  type: str
content_changed:
  description: Same as C(changed), kept when the task overrides C(changed) (the role sets C(changed_when=false)).
  returned: always
  type: bool
recreates_total:
  description: The value of C(copilotos_api_recreates_total) in the rendered text.
  returned: always
  type: int
text:
  description: The rendered metrics (no secret, only names, codes and results).
  returned: when rendered
  type: str
"""

import os
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.copilotos_common import ModuleFailure, atomic_write, finish, secret_forms
from ansible.module_utils.copilotos_metrics import (
    RECREATES_METRIC,
    count_restarts,
    is_audit,
    recreates_total,
    render,
    sample_value,
    stable,
)


def read_text(path: str | None) -> str | None:
    if not path:
        return None
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return None


def parse_mode(value: Any) -> int:
    return value if isinstance(value, int) else int(str(value), 8)


def run(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    path, run = params["path"], params["run"]
    result: dict[str, Any] = {"changed": False, "content_changed": False, "written": False, "path": path,
                              "recreates_total": 0}
    try:
        mode = parse_mode(params["mode"])
    except ValueError:
        raise ModuleFailure("mode must be an octal string such as '0644'", **result) from None
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        module.warn("metrics_textfile: %s does not exist (node_exporter's textfile directory); no metrics written"
                    % directory)
        return result
    try:
        before = read_text(path)
        log = read_text(params["log_file"])
    except OSError as exc:
        module.warn("metrics_textfile: cannot read %s: %s" % (exc.filename, exc.strerror or exc))
        return result
    previous = sample_value(before, RECREATES_METRIC)
    this_run = int(bool(run.get("recreated")) and not is_audit(run))
    total = recreates_total(int(previous) if previous is not None else None,
                            count_restarts(log.splitlines()) if log is not None else None, this_run)
    text = render(run, params["drift"], total)
    result.update(recreates_total=total, text=text)
    if any(form in text for form in secret_forms(params["secrets"])):
        module.warn("metrics_textfile: the rendered metrics would contain a secret value; nothing was written")
        result.pop("text")
        return result
    result["changed"] = stable(before) != stable(text) or (before is not None and _mode_of(path) != mode)
    result["content_changed"] = result["changed"]
    if module._diff:
        result["diff"] = {"before": before or "", "after": text, "before_header": path, "after_header": path}
    if module.check_mode or (before == text and _mode_of(path) == mode):
        return result
    try:
        atomic_write(path, text.encode("utf-8"), mode=mode)
        result["written"] = True
    except OSError as exc:
        result["changed"] = result["content_changed"] = False
        module.warn("metrics_textfile: cannot write %s: %s" % (path, exc.strerror or exc))
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            run=dict(type="dict", required=True),
            drift=dict(type="bool", default=False),
            log_file=dict(type="path"),
            mode=dict(type="raw", default="0644"),
            secrets=dict(type="list", elements="str", default=[], no_log=True),
        ),
        supports_check_mode=True,
    )
    finish(module, run)


def _mode_of(path: str) -> int | None:
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return None


if __name__ == "__main__":
    main()
