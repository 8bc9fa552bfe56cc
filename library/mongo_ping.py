#!/usr/bin/python
# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: mongo_ping
short_description: Ping MongoDB with the api's URI and check connection-pool headroom
description:
  - Read-only check of a MongoDB connection as the api makes it. It connects with PyMongo using a URI (or host,
    port, credentials, auth source, TLS and database), authenticates, runs C(ping) and returns the latency and the
    server version.
  - With O(server_status), it also reads C(serverStatus.connections) (C(current), C(available)). It raises
    C(MONGO_POOL_EXCEEDS_AVAILABLE) when the api's pool (O(max_pool_size), the configured C(DB_MAX_POOL_SIZE)) times
    O(api_replicas) exceeds the connections still available.
  - It raises C(MONGO_SERVER_SELECTION_TIMEOUT_LOW) when O(configured_server_selection_timeout_ms) (the configured
    C(DB_SERVER_SELECTION_TIMEOUT_MS)) is below O(min_server_selection_timeout_ms).
  - With O(compose_project), the Compose service O(service) is resolved to its container address through the Docker
    API. The module then connects there with C(directConnection=true), so a check run on the Docker host reaches a
    MongoDB that publishes no port.
  - Failures get distinct findings and messages. They cover server selection timeout and connection refused, DNS
    failure, authentication failure and TLS errors.
version_added: "0.1.0"
author: copilotos-remediation contributors (!UNKNOWN)
options:
  uri:
    description:
      - The MongoDB URI, C(mongodb://user:password@host:port/db?authSource=admin) or C(mongodb+srv://).
      - Mutually exclusive with O(host), O(username), O(password).
    type: str
  host:
    description: MongoDB host, when no O(uri) is given.
    type: str
  port:
    description: MongoDB port, when no O(uri) is given. Defaults to C(27017).
    type: int
  username:
    description: User name, when no O(uri) is given.
    type: str
  password:
    description: Password, when no O(uri) is given.
    type: str
  auth_source:
    description: Authentication database. Defaults to the URI's C(authSource), else its database, else C(admin).
    type: str
  database:
    description: Database named in the URI path, when no O(uri) is given (it is the default auth source).
    type: str
  tls:
    description: Use TLS. Defaults to the URI's C(tls)/C(ssl) option (true for C(mongodb+srv)).
    type: bool
  tls_ca_cert:
    description: CA bundle to verify the server certificate with.
    type: path
  server_selection_timeout_ms:
    description: How long this check waits for a usable server (also its connect timeout), in milliseconds.
    type: int
    default: 5000
  server_status:
    description: Also read C(serverStatus) connections and check pool headroom.
    type: bool
    default: false
  max_pool_size:
    description: The api's configured maximum pool size per process (C(DB_MAX_POOL_SIZE)).
    type: int
  api_replicas:
    description: Number of api processes or containers, each with its own pool.
    type: int
    default: 1
  configured_server_selection_timeout_ms:
    description: The api's configured server selection timeout (C(DB_SERVER_SELECTION_TIMEOUT_MS)), to review.
    type: int
  min_server_selection_timeout_ms:
    description: Below this, O(configured_server_selection_timeout_ms) raises C(MONGO_SERVER_SELECTION_TIMEOUT_LOW).
    type: int
    default: 10000
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
      - Compose project in which MongoDB runs as service O(service). When given, a URI host that is the service name,
        a loopback address or C(localhost) is resolved to the container's address, and the connection is direct.
    type: str
  service:
    description: Compose service name of MongoDB.
    type: str
    default: mongodb
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
    RV(target), messages and evidence, including error texts from the driver.
  - "PyMongo refuses a URI whose password holds C(: / ? # [ ] @) or a C(%) that is not an C(%XX) escape, and it
    decodes C(+) as a space. The module still parses such a URI, so it can test the intended credentials. It reports
    C(MONGO_URI_PASSWORD_NOT_ENCODED) (critical); other characters that RFC 3986 wants encoded make it medium."
  - The module does not pass the URI string itself to PyMongo. It passes the parsed parts, so a malformed URI
    cannot leak its password through a driver error message.
requirements:
  - pymongo (Python library); dnspython for C(mongodb+srv)
  - docker (Python SDK), only with O(compose_project)
"""

EXAMPLES = r"""
- name: Ping the lab MongoDB with the api's MONGODB_URL and check pool headroom
  mongo_ping:
    uri: "{{ copilotos_env_values.MONGODB_URL }}"
    compose_project: copilotos
    server_status: true
    max_pool_size: 100
    api_replicas: 1
    configured_server_selection_timeout_ms: 5000
    mode: audit
  register: mongo_check
  no_log: true

- name: Fail unless MongoDB answers with these credentials
  mongo_ping:
    host: 127.0.0.1
    port: 27017
    username: copilotos
    password: "{{ vault_mongo_password }}"
    auth_source: admin
"""

RETURN = r"""
ok:
  description: Whether C(ping) succeeded (after authentication, when credentials were given).
  returned: always
  type: bool
authenticated:
  description: Whether credentials were given and accepted.
  returned: always
  type: bool
latency_ms:
  description: Round trip of one C(ping) on an established connection, in milliseconds.
  returned: always
  type: float
server_version:
  description: Version from C(buildInfo) (or C(serverStatus)).
  returned: always
  type: str
  sample: 7.0.0
connections:
  description: C(serverStatus.connections) numbers, with O(server_status) when they could be read.
  returned: when server_status
  type: dict
  sample: {current: 12, available: 188, total_created: 40}
target:
  description: The URI checked, rebuilt with the password masked.
  returned: always
  type: str
  sample: mongodb://copilotos:********@mongodb:27017/copilotos?authSource=admin
resolved_address:
  description: The C(host:port) connected to (the service container's address with O(compose_project)).
  returned: always
  type: str
findings:
  description:
    - Problems found, each with a stable C(code), C(severity), C(message) and masked C(evidence).
    - "Codes: C(MONGO_URI_UNPARSEABLE), C(MONGO_URI_PASSWORD_NOT_ENCODED), C(MONGO_URI_LOCALHOST),
      C(MONGO_SERVICE_UNRESOLVED), C(MONGO_UNREACHABLE), C(MONGO_DNS_FAILURE), C(MONGO_AUTH_FAILED),
      C(MONGO_TLS_ERROR), C(MONGO_SERVER_STATUS_UNAVAILABLE), C(MONGO_POOL_EXCEEDS_AVAILABLE),
      C(MONGO_SERVER_SELECTION_TIMEOUT_LOW)."
  returned: always
  type: list
  elements: dict
msg:
  description: One line summarising the result.
  returned: always
  type: str
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.copilotos_mongo import MODULE_KWARGS, PYMONGO_IMPORT_ERROR, run_probe
from ansible.module_utils.copilotos_probe import probe_main


def run(module: AnsibleModule) -> dict[str, Any]:
    return run_probe(module.params)


def main() -> None:
    probe_main(MODULE_KWARGS, "pymongo", PYMONGO_IMPORT_ERROR, run)


if __name__ == "__main__":
    main()
