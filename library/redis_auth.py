#!/usr/bin/python
# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: redis_auth
short_description: Check that a Redis URL reaches and authenticates to Redis the way the api will
description:
  - Read-only check of a Redis connection as an application (the copilotos api) would make it. It takes a Redis URL
    (or host, port, db, username and password) and reports whether Redis is reachable, whether the credentials
    authenticate, the server version and the latency.
  - It also reviews the URL itself and returns findings with stable codes. The URL password can differ from
    O(expected_password). The URL host can be C(localhost) while Redis runs in another container. The URL can be
    unparseable, or its password not percent-encoded.
  - With O(compose_project), the Compose service O(service) is resolved to its container address through the Docker
    API, so a check run on the Docker host reaches a Redis that publishes no port. If the URL host is C(localhost),
    the module reports that and still authenticates against the real service with the URL's password, so the report
    says whether that password works.
  - It uses RESP2 (like the api's redis-py), so a missing password shows as C(NOAUTH).
version_added: "0.1.0"
author: copilotos-remediation contributors (!UNKNOWN)
options:
  url:
    description:
      - The Redis URL, C(redis://[[user]:password@]host[:port][/db]) or C(rediss://) for TLS.
      - Mutually exclusive with O(host), O(username), O(password).
    type: str
  host:
    description: Redis host, when no O(url) is given.
    type: str
  port:
    description: Redis port, when no O(url) is given. Defaults to C(6379).
    type: int
  db:
    description: Database number, when no O(url) is given. Defaults to C(0).
    type: int
  username:
    description: ACL user name (Redis 6+), when no O(url) is given.
    type: str
  password:
    description: Password, when no O(url) is given.
    type: str
  expected_password:
    description:
      - The password Redis really requires (for example C(REDIS_PASSWORD)). When the URL password differs, the
        finding C(REDIS_URL_PASSWORD_MISMATCH) is raised and the module also tries this password, returning
        RV(expected_password_authenticated).
    type: str
  tls:
    description: Use TLS, when no O(url) is given (a C(rediss://) URL implies it).
    type: bool
  tls_ca_cert:
    description: CA bundle to verify the server certificate with.
    type: path
  tls_verify:
    description: Verify the server certificate and host name.
    type: bool
    default: true
  mode:
    description:
      - V(enforce) fails the task when any finding is C(critical), with a one-line message naming the problems and
        the (masked) target.
      - V(audit) never fails; the problems are only returned as RV(findings).
    type: str
    choices: [enforce, audit]
    default: enforce
  compose_project:
    description:
      - Compose project in which Redis runs as service O(service). When given, a URL host that is the service name,
        a loopback address or C(localhost) is resolved to the service container's address through the Docker API.
      - It also means Redis runs in another container than the client, so a loopback URL host is a finding.
    type: str
  service:
    description: Compose service name of Redis.
    type: str
    default: redis
  connect_timeout:
    description: Seconds for connecting and for each reply.
    type: float
    default: 5
extends_documentation_fragment:
  - copilotos_docker
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module never changes anything; it runs the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Secrets never appear in the results. Passwords (plain and percent-encoded) are masked as C(********) in
    RV(target), messages and evidence, including error texts that come from Redis or the driver.
  - "In the URL password, RFC 3986 allows only unreserved characters, C(! $ & ' ( ) * + , ; =) and C(%XX) escapes.
    The others (C(@ : / ? # [ ] %), space, non-ASCII and so on) are reported by C(REDIS_URL_PASSWORD_NOT_ENCODED).
    The finding is C(critical) when the driver would read a different host or password (C(/ ? #)), C(medium)
    otherwise."
requirements:
  - redis (Python library)
  - docker (Python SDK), only with O(compose_project)
"""

EXAMPLES = r"""
- name: Check the api's REDIS_URL against the lab's redis service
  redis_auth:
    url: "{{ copilotos_env_values.REDIS_URL }}"
    expected_password: "{{ copilotos_redis_password }}"
    compose_project: copilotos
    mode: audit
  register: redis_check
  no_log: true

- name: Fail when Redis is unreachable or refuses the credentials
  redis_auth:
    host: 127.0.0.1
    port: 6379
    password: "{{ vault_redis_password }}"
    mode: enforce
"""

RETURN = r"""
reachable:
  description: Whether a Redis server answered (even if it refused the credentials).
  returned: always
  type: bool
authenticated:
  description: Whether the credentials were accepted and a C(PING) succeeded.
  returned: always
  type: bool
expected_password_authenticated:
  description:
    - When the URL password failed and O(expected_password) differs from it, whether O(expected_password) works.
      Null when it was not tried.
  returned: always
  type: bool
server_version:
  description: C(redis_version) from C(INFO server), when authenticated.
  returned: always
  type: str
  sample: 7.0.15
latency_ms:
  description: Round trip of one C(PING), in milliseconds, when authenticated.
  returned: always
  type: float
target:
  description: The URL checked, rebuilt with the password masked.
  returned: always
  type: str
  sample: redis://:********@redis:6379/0
resolved_address:
  description: The C(host:port) actually connected to (the service container's address with O(compose_project)).
  returned: always
  type: str
  sample: 172.18.0.3:6379
findings:
  description:
    - Problems found, each with a stable C(code), C(severity) (C(critical), C(medium), C(low), C(info)), a C(message)
      and masked C(evidence).
    - "Codes: C(REDIS_URL_UNPARSEABLE), C(REDIS_URL_PASSWORD_MISMATCH), C(REDIS_URL_LOCALHOST),
      C(REDIS_URL_PASSWORD_NOT_ENCODED), C(REDIS_SERVICE_UNRESOLVED), C(REDIS_UNREACHABLE), C(REDIS_AUTH_FAILED),
      C(REDIS_TLS_ERROR)."
  returned: always
  type: list
  elements: dict
  sample:
    - code: REDIS_URL_PASSWORD_MISMATCH
      severity: critical
      message: The password in the Redis URL differs from the expected password
      evidence: {target: "redis://:********@redis:6379/0"}
msg:
  description: One line summarising the result.
  returned: always
  type: str
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.copilotos_probe import probe_main
from ansible.module_utils.copilotos_redis import MODULE_KWARGS, REDIS_IMPORT_ERROR, run_probe


def run(module: AnsibleModule) -> dict[str, Any]:
    return run_probe(module.params)


def main() -> None:
    probe_main(MODULE_KWARGS, "redis", REDIS_IMPORT_ERROR, run)


if __name__ == "__main__":
    main()
