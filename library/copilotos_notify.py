#!/usr/bin/python
# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: copilotos_notify
short_description: Send a copilotos maintenance notification to a webhook (Slack-compatible JSON)
description:
  - Builds the JSON body of a maintenance notification from names and results only (env key names, never
    values) and POSTs it to O(url). The body has a C(text) field, one attachment with C(fields) (Slack's
    incoming-webhook format) and the same data, typed, under C(copilotos) (see docs/notifications.md).
  - Before sending, every string of the body is checked against O(secrets) (plain and percent-encoded);
    a body that would carry one is not sent, and the module warns, naming where, never what.
  - A notification that cannot be delivered (connection refused, timeout, DNS, TLS, an HTTP status of 300
    or more) is a warning, never a failure, so it cannot fail or roll back the remediation it announces.
  - The webhook URL is treated as a secret (Slack's carries its token in the path); messages show only its
    scheme, host and port.
  - Meant to run on the controller (C(delegate_to=localhost)).
version_added: "0.3.0"
author:
  - copilotos-remediation contributors (@copilotos-remediation)
options:
  url:
    description: The webhook URL (C(http) or C(https)).
    type: str
    required: true
  event:
    description:
      - C(before_recreate) announces the api's recreate (host, keys to change, expected downtime);
        C(after_verify) gives the outcome (result, rollback, report path).
    type: str
    required: true
    choices: [before_recreate, after_verify]
  host:
    description: Inventory name of the host the notification is about.
    type: str
    required: true
  facts:
    description:
      - What the notification says. Both events take C(keys) (names), C(project), C(project_dir), C(user)
        and C(run_id); C(before_recreate) takes C(expected_downtime_s) and C(max_downtime_s);
        C(after_verify) takes C(result), C(rolled_back), C(recreated), C(report) and C(failure).
    type: dict
    default: {}
  timeout:
    description: Seconds to wait for the webhook to answer.
    type: int
    default: 5
  validate_certs:
    description: Verify the TLS certificate of an C(https) webhook.
    type: bool
    default: true
  headers:
    description: Extra HTTP headers (for example an C(Authorization) header). C(no_log).
    type: dict
    default: {}
  secrets:
    description: Values that must never appear in a notification. C(no_log).
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
    details: In check mode nothing is sent; the body is built, checked and returned.
  diff_mode:
    support: none
notes:
  - The task never reports C(changed); a notification is not a change of any host.
"""

EXAMPLES = r"""
- name: before | Announce the recreate of the api
  copilotos_notify:
    url: "{{ copilotos_notify_url }}"
    event: before_recreate
    host: "{{ inventory_hostname }}"
    facts:
      keys: [REDIS_URL, CORS_ORIGINS]
      expected_downtime_s: 10
      max_downtime_s: 120
    timeout: 5
    secrets: ["{{ copilotos_redis_password }}"]
  delegate_to: localhost
"""

RETURN = r"""
sent:
  description: Whether the webhook accepted the notification (HTTP 2xx).
  returned: always
  type: bool
status:
  description: HTTP status of the answer; -1 when no answer came (refused, timeout).
  returned: always
  type: int
payload:
  description: The JSON body (sent, or that would have been sent). Absent when it was refused for a secret.
  returned: when it could be built
  type: dict
  sample:
    text: "copilotos maintenance on lab1: recreating the api now to apply CORS_ORIGINS, REDIS_URL; ..."
    attachments: [{fallback: "...", color: warning, fields: [{title: Host, value: lab1, short: true}]}]
    copilotos: {schema_version: 1, event: before_recreate, host: lab1, keys: [CORS_ORIGINS, REDIS_URL]}
"""

import json
from typing import Any
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.copilotos_common import finish, one_line
from ansible.module_utils.copilotos_notify import NotifyError, guarded_payload
from ansible.module_utils.urls import fetch_url


def endpoint(url: str) -> str:
    """``scheme://host[:port]`` of the webhook: the path may carry its token."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return "%s://%s%s" % (parts.scheme, host, ":%d" % parts.port if parts.port else "")


def send(module: AnsibleModule, payload: dict[str, Any]) -> tuple[bool, int, str]:
    params = module.params
    headers = {"Content-Type": "application/json"}
    headers.update({str(k): str(v) for k, v in (params["headers"] or {}).items()})
    response, info = fetch_url(module, params["url"], data=json.dumps(payload).encode("utf-8"), headers=headers,
                               method="POST", timeout=params["timeout"])
    status = int(info.get("status", -1))
    if response is not None:
        response.close()
    if 200 <= status < 300:
        return True, status, ""
    reason = info.get("msg") or "no answer"
    return False, status, "HTTP %d" % status if status > 0 else one_line(reason, 160)


def run(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    where = endpoint(params["url"])
    result: dict[str, Any] = {"changed": False, "sent": False, "status": -1}
    if urlsplit(params["url"]).scheme not in ("http", "https"):
        module.warn("copilotos_notify: the webhook URL must be http or https (%s); nothing was sent" % where)
        return result
    try:
        payload = guarded_payload(params["event"], params["host"], params["facts"], params["secrets"])
    except (NotifyError, TypeError, ValueError) as exc:
        module.warn("copilotos_notify: %s" % one_line(exc))
        return result
    result["payload"] = payload
    if module.check_mode:
        return result
    try:
        sent, status, reason = send(module, payload)
    except Exception as exc:  # a notification never fails the run it announces
        sent, status, reason = False, -1, one_line(exc, 160)
    result.update(sent=sent, status=status)
    if not sent:
        reason = reason.replace(params["url"], where)
        module.warn("copilotos_notify: the %s notification to %s was not delivered (%s); the run goes on"
                    % (params["event"], where, reason))
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True, no_log=True),
            event=dict(type="str", required=True, choices=["before_recreate", "after_verify"]),
            host=dict(type="str", required=True),
            facts=dict(type="dict", default={}),
            timeout=dict(type="int", default=5),
            validate_certs=dict(type="bool", default=True),
            headers=dict(type="dict", default={}, no_log=True),
            secrets=dict(type="list", elements="str", default=[], no_log=True),
        ),
        supports_check_mode=True,
    )
    finish(module, run)


if __name__ == "__main__":
    main()
