#!/usr/bin/python
# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: container_logs
short_description: Scan a container's logs for error signatures (read-only)
description:
  - Reads the logs of a Compose service's container (or a named container) through the Docker API, since a point in
    time, and matches every line against error signatures. A signature is a regex over the raw line and/or a match on
    the C(level) and C(event) fields of JSON structured lines.
  - Returns the matches (time, signature, level, event and a short masked excerpt) and counts per signature, never
    whole logs. O(watch_seconds) keeps scanning new lines for a while, for example right after a deploy.
  - Never changes anything (C(changed=false)).
version_added: "0.1.0"
author: copilotos-remediation contributors (!UNKNOWN)
options:
  project_name:
    description: Compose project of the service. Required with O(service).
    type: str
  service:
    description: Compose service whose newest container is scanned.
    type: str
  container:
    description: Container name or id, instead of O(project_name) and O(service).
    type: str
  since:
    description:
      - Where to start. An ISO 8601 timestamp (C(2025-09-30T20:19:00Z)), epoch seconds, or V(container_start) for the
        start of the container's current run, so only that run is judged.
      - V(container_start) is the container's creation, or the end of its previous run (C(State.FinishedAt)) when it
        was restarted. C(State.StartedAt) itself is not used as is, because Docker stamps it a few milliseconds after
        the process wrote its first log lines.
    type: str
    default: container_start
  patterns:
    description:
      - Signatures to look for. Each is a dict with C(name) (letters, digits, underscores) and at least one of
        C(regex) (Python regex searched in the raw line), C(event) (case-insensitive substring of the JSON C(event),
        C(message) or C(msg) field) and C(level) (a level or list of levels, compared with the JSON C(level),
        C(levelname) or C(severity) field). All given conditions must hold. Optional C(severity)
        (C(critical), C(medium), C(low), C(info)); default C(critical) for names mentioning redis, auth or password,
        else C(medium).
      - The default covers the production diagnosis - C(redis_connection_failed) (event
        C(Redis cache connection failed)), C(connection_refused) (C(Error 111), C(Connection refused)),
        C(redis_auth_failed) (C(NOAUTH), C(WRONGPASS), invalid password), C(cors_rejected)
        (C(Disallowed CORS origin), blocked by CORS policy), C(upstream_timeout) (C(ReadTimeout), C(ConnectTimeout)),
        C(mongo_server_selection_timeout) (C(ServerSelectionTimeoutError)) and C(pool_exhausted).
    type: list
    elements: dict
  watch_seconds:
    description: After the first scan, keep scanning new lines for this many seconds (0 = scan once).
    type: int
    default: 0
  max_matches:
    description: At most this many matches are returned; counts always cover every line.
    type: int
    default: 20
  mode:
    description: V(enforce) fails when any signature matched; V(audit) only reports findings.
    type: str
    choices: [enforce, audit]
    default: enforce
  secrets:
    description: Extra strings to mask in excerpts (URL passwords are always masked).
    type: list
    elements: str
extends_documentation_fragment:
  - copilotos_docker
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Read-only; runs the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Log lines are compared with the exact C(since) time (nanoseconds); Docker itself is asked with whole seconds.
requirements:
  - docker (Python SDK)
"""

EXAMPLES = r"""
- name: No Redis or CORS errors since the api container started
  container_logs:
    project_name: copilotos
    service: api
    mode: enforce

- name: Watch the api for a minute after the deploy, report only
  container_logs:
    project_name: copilotos
    service: api
    watch_seconds: 60
    mode: audit
    patterns:
      - name: redis_connection_failed
        event: Redis cache connection failed
      - name: server_error
        level: [error, critical]
      - name: auth
        regex: "NOAUTH|WRONGPASS"
        severity: critical
  register: api_logs
"""

RETURN = r"""
matches:
  description: Up to O(max_matches) matching lines.
  returned: always
  type: list
  elements: dict
  contains:
    time: {description: Docker timestamp of the line, type: str}
    signature: {description: Pattern name, type: str}
    level: {description: "JSON level field, if any", type: str}
    event: {description: "JSON event field (masked), if any", type: str}
    excerpt: {description: "The line, masked, at most 200 characters", type: str}
counts:
  description: Matching lines per signature.
  returned: always
  type: dict
  sample: {redis_connection_failed: 3, connection_refused: 3}
scanned_lines:
  description: Lines examined.
  returned: always
  type: int
since:
  description: The start time used, ISO 8601 UTC with nanoseconds.
  returned: always
  type: str
container:
  description: Name of the scanned container.
  returned: always
  type: str
findings:
  description: One finding per matched signature, code C(LOG_SIGNATURE_<NAME>).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.copilotos_common import ModuleFailure, finish
from ansible.module_utils.copilotos_docker import DOCKER_IMPORT_ERROR, DockerError
from ansible.module_utils.copilotos_logs import MODULE_KWARGS, run_probe


def run(module):
    try:
        return run_probe(module.params)
    except (ValueError, DockerError) as exc:
        text = str(exc)
        raise ModuleFailure(text if text.startswith("container_logs:") else "container_logs: %s" % text) from None


def main():
    module = AnsibleModule(supports_check_mode=True, **MODULE_KWARGS)
    if DOCKER_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("docker"), exception=DOCKER_IMPORT_ERROR)
    finish(module, run, fail_if=lambda result: bool(result["counts"]) and module.params["mode"] == "enforce")


if __name__ == "__main__":
    main()
