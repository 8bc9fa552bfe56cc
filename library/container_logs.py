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
author: copilotos-remediation contributors
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
    no_log: true
  docker_host:
    description: Docker daemon URL; default from the environment (C(DOCKER_HOST) or the local socket).
    type: str
attributes:
  check_mode:
    support: full
    details: Read-only; runs the same in check mode.
  diff_mode:
    support: none
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
    level: {description: JSON level field, if any, type: str}
    event: {description: JSON event field (masked), if any, type: str}
    excerpt: {description: The line, masked, at most 200 characters, type: str}
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

import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.copilotos_common import finding
from ansible.module_utils.copilotos_docker import (
    DOCKER_IMPORT_ERROR,
    DockerError,
    DockerException,
    NotFound,
    get_client,
    service_container,
)
from ansible.module_utils.copilotos_logs import (
    LogScanner,
    PatternError,
    normalise_patterns,
    ns_to_iso,
    parse_since,
    run_start_ns,
)


def read_logs(container, since_seconds, scanner):
    """Stream the container's logs since whole seconds into the scanner, line by line."""
    pending = b""
    stream = container.logs(
        stdout=True, stderr=True, timestamps=True, since=max(1, since_seconds), stream=True, follow=False
    )
    for chunk in stream:
        pending += chunk
        if b"\n" in pending:
            complete, _, pending = pending.rpartition(b"\n")
            scanner.feed(complete + b"\n")
    if pending:
        scanner.feed(pending)


def run(module):
    p = module.params
    try:
        patterns = normalise_patterns(p["patterns"])
    except PatternError as exc:
        module.fail_json(msg="container_logs: %s" % exc)
    since_ns = 0
    if p["since"] != "container_start":
        try:
            since_ns = parse_since(p["since"])
        except ValueError as exc:
            module.fail_json(msg="container_logs: %s" % exc)
    client = get_client(p["docker_host"])
    if p["container"]:
        where = "container %s" % p["container"]
        try:
            container = client.containers.get(p["container"])
        except NotFound:
            raise DockerError("no container named %r" % p["container"]) from None
    else:
        where = "service %s of Compose project %s" % (p["service"], p["project_name"])
        container = service_container(client, p["project_name"], p["service"])

    if p["since"] == "container_start":
        state = container.attrs.get("State") or {}
        since_ns = run_start_ns(container.attrs.get("Created"), state.get("StartedAt"), state.get("FinishedAt"))

    scanner = LogScanner(patterns, since_ns, p["max_matches"], p["secrets"] or [])
    try:
        read_logs(container, since_ns // 1_000_000_000, scanner)
        deadline = time.monotonic() + max(0, p["watch_seconds"])
        while time.monotonic() < deadline:
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            read_logs(container, scanner.next_since(), scanner)
    except DockerException as exc:
        raise DockerError("cannot read logs of %s: %s" % (where, " ".join(str(exc).split())[:200])) from None

    findings = []
    for name, count in sorted(scanner.counts.items()):
        sample = next((m["excerpt"] for m in scanner.matches if m["signature"] == name), None)
        findings.append(
            finding(
                "LOG_SIGNATURE_%s" % name.upper(),
                scanner.severity(name),
                "%d log line(s) of %s match %s since %s" % (count, where, name, ns_to_iso(since_ns)),
                count=count,
                first=scanner.first_seen.get(name),
                last=scanner.last_seen.get(name),
                sample=sample,
            )
        )
    result = {
        "changed": False,
        "container": container.name,
        "matches": scanner.matches,
        "counts": scanner.counts,
        "scanned_lines": scanner.scanned_lines,
        "since": ns_to_iso(since_ns),
        "findings": findings,
    }
    if scanner.counts:
        msg = "container_logs: %s: %d signature match(es) since %s: %s" % (
            where,
            sum(scanner.counts.values()),
            result["since"],
            scanner.summary(),
        )
        if p["mode"] == "enforce":
            module.fail_json(msg=msg, **result)
        result["msg"] = msg
    else:
        result["msg"] = "container_logs: %s: no error signature in %d line(s) since %s" % (
            where,
            scanner.scanned_lines,
            result["since"],
        )
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            project_name=dict(type="str"),
            service=dict(type="str"),
            container=dict(type="str"),
            since=dict(type="str", default="container_start"),
            patterns=dict(type="list", elements="dict"),
            watch_seconds=dict(type="int", default=0),
            max_matches=dict(type="int", default=20),
            mode=dict(type="str", default="enforce", choices=["enforce", "audit"]),
            secrets=dict(type="list", elements="str", no_log=True),
            docker_host=dict(type="str"),
        ),
        required_one_of=[("service", "container")],
        mutually_exclusive=[("service", "container")],
        required_by={"service": "project_name"},
        supports_check_mode=True,
    )
    if DOCKER_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("docker"), exception=DOCKER_IMPORT_ERROR)
    try:
        run(module)
    except DockerError as exc:
        module.fail_json(msg="container_logs: %s" % exc)


if __name__ == "__main__":
    main()
