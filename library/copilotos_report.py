#!/usr/bin/python
# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


from __future__ import annotations

DOCUMENTATION = r"""
---
module: copilotos_report
short_description: Write a host's diagnosis reports (JSON, Markdown) and the run's HTML index on the controller
description:
  - Takes the masked run record C(copilotos_run) of one host, enriches its findings from the findings
    catalogue (title, what is checked, fix; the severity when the finding has none) and writes
    C(<report_dir>/<host>.json) (schema_version 1, see docs/report-schema.md) and C(<report_dir>/<host>.md)
    (laid out like the production diagnosis).
  - Rebuilds C(<report_dir>/index.html) from every C(<host>.json) in O(report_dir), under an exclusive
    lock, so hosts of one run writing concurrently end with one index covering all of them.
  - Files are written atomically with mode C(0600); O(report_dir) is made C(0700). O(latest_link) is
    pointed at O(report_dir).
  - Defensive masking. Every string of O(run) goes through C(mask_url_passwords). If any string of
    O(run), or of a rendered report, contains one of O(secrets) (plain, percent-encoded, HTML- or
    JSON-escaped), the module fails and writes nothing for that host; the message names where, never what.
  - Runs on the controller. An action plugin of the same name does the work in the controller's own
    worker process (no module is sent anywhere, whatever the task's host); the module file holds these
    docs and stays usable on its own, with C(delegate_to=localhost). The reports are controller-side
    output, not host state, so the role runs this task with C(check_mode=false). Run in check mode
    anyway, it builds and validates everything but writes nothing.
version_added: "0.1.0"
options:
  run:
    description: The host's C(copilotos_run) record (see docs/report-schema.md). It must already be masked.
    type: dict
    required: true
  catalogue:
    description: Path of the findings catalogue (C(roles/copilotos_report/files/findings_catalogue.yml)).
    type: path
    required: true
  report_dir:
    description: Run directory, usually C(<repo>/reports/<UTC timestamp>). Created with mode C(0700).
    type: path
    required: true
  template_dir:
    description: Directory holding C(report.md.j2) and C(index.html.j2) (the role's C(templates)).
    type: path
    required: true
  latest_link:
    description: Symbolic link to point at O(report_dir), usually C(<repo>/reports/latest). Omit for none.
    type: path
  run_id:
    description: Identifier of the run written into the reports. Defaults to the base name of O(report_dir).
    type: str
  fail_on:
    description:
      - Alert level used to compute C(fail_count) in RV(summary), the number of findings at or above it.
      - The module itself never fails because of findings; the role does, after writing.
    type: str
    choices: [critical, medium, low, never]
    default: critical
  next_audit_hours:
    description:
      - After a run that changed the host, the post-change record names when the next scheduled audit
        looks again, this many hours after the run finished (the diagnosis's "revisit in 48 h").
    type: int
    default: 48
  secrets:
    description: Secret values that must never appear in a report. C(no_log).
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - action_common_attributes
  - action_common_attributes.conn
attributes:
  action:
    description: Has an action plugin of the same name, run by the controller itself.
    support: full
  become:
    support: none
    details: The controller's files of the operator running the playbook; the role sets C(become=false).
  connection:
    support: none
    details: The action plugin opens no connection; it reads and writes only the controller's files.
  delegation:
    support: none
    details: The reports are written on the controller whatever C(delegate_to) says.
  check_mode:
    support: full
    details: In check mode nothing is written; the role runs the task with C(check_mode=false).
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
requirements:
  - jinja2 and PyYAML (both ship with ansible-core, so the controller has them)
notes:
  - The task reports C(changed=true) when it wrote files; the role sets C(changed_when=false) so the
    play recap keeps counting host changes only.
author:
  - copilotos-remediation contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: write | Write the JSON, Markdown and HTML reports on the controller
  copilotos_report:
    run: "{{ copilotos_run }}"
    catalogue: "{{ role_path }}/files/findings_catalogue.yml"
    template_dir: "{{ role_path }}/templates"
    report_dir: "{{ playbook_dir }}/reports/20261129T060000Z"
    latest_link: "{{ playbook_dir }}/reports/latest"
    fail_on: critical
    secrets: ["{{ copilotos_redis_password }}", "{{ copilotos_mongo_password }}"]
  delegate_to: localhost
  check_mode: false
"""

RETURN = r"""
files:
  description: Paths written.
  returned: success
  type: dict
  sample:
    json: /repo/reports/20261129T060000Z/lab1.json
    markdown: /repo/reports/20261129T060000Z/lab1.md
    index: /repo/reports/20261129T060000Z/index.html
    latest: /repo/reports/latest
summary:
  description: Short per-host record for the summary callback (see docs/report-schema.md).
  returned: success
  type: dict
  sample:
    host: lab1
    mode: audit
    audit: true
    result: findings
    severity: critical
    counts: {critical: 4, medium: 5, low: 1, info: 0}
    changed_keys: []
    recreated: false
    verification: failed
    report: /repo/reports/20261129T060000Z/lab1.md
    fail_on: critical
    fail_count: 4
    fail_codes: [REDIS_URL_LOCALHOST, REDIS_URL_PASSWORD_MISMATCH, COMPOSE_OVERRIDE_MISSING, CORS_ORIGIN_MISSING]
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.copilotos_common import finish
from ansible.module_utils.copilotos_report import ARGUMENT_SPEC, HAS_YAML
from ansible.module_utils.copilotos_report_io import produce
from ansible.module_utils.copilotos_report_render import HAS_JINJA2


def run(module: AnsibleModule) -> dict[str, Any]:
    result, warnings = produce(module.params, module.check_mode)
    for warning in warnings:
        module.warn(warning)
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if not HAS_JINJA2:
        module.fail_json(msg=missing_required_lib("jinja2"))
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"))
    finish(module, run)


if __name__ == "__main__":
    main()
