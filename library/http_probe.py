#!/usr/bin/python
# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: http_probe
short_description: Probe an HTTP endpoint the way the production diagnosis does (read-only)
description:
  - GETs O(url) and checks the status (and optionally a JSON health body).
  - For each of O(cors_origins) sends a CORS preflight (C(OPTIONS) with C(Origin), C(Access-Control-Request-Method)
    and C(Access-Control-Request-Headers)) and judges the answer like a browser - C(Access-Control-Allow-Origin)
    must equal the origin, C(Access-Control-Allow-Credentials) must be C(true) when O(cors_credentials), and the
    method and headers must be allowed.
  - O(burst) sends N concurrent GETs and returns a status histogram and p50/p95/max latency.
  - Optionally checks that an upstream API answers a request with a bearer token (status and latency only).
  - Uses the Python standard library only; follows no redirects; never changes anything.
version_added: "0.1.0"
author: copilotos-remediation contributors (!UNKNOWN)
options:
  url:
    description: The URL to GET, for example C(http://127.0.0.1:8000/api/health). Only http and https.
    type: str
    required: true
  expect_status:
    description: The status the GET (and every burst request) must return.
    type: int
    default: 200
  cors_origins:
    description: Origins to send a preflight for (to O(url)). Each must be allowed.
    type: list
    elements: str
    default: []
  cors_method:
    description: Value of C(Access-Control-Request-Method).
    type: str
    default: POST
  cors_headers:
    description: Value of C(Access-Control-Request-Headers) (comma-separated).
    type: str
    default: content-type,authorization
  cors_credentials:
    description: Require C(Access-Control-Allow-Credentials true) (and refuse wildcards, as browsers do).
    type: bool
    default: true
  burst:
    description: Number of concurrent GETs of O(url); 0 disables the burst.
    type: int
    default: 0
  health_json:
    description:
      - Parse the GET body as a health document (C(status) and C(checks)) and report checks that are not healthy.
    type: bool
    default: false
  upstream_url:
    description: An upstream URL (http or https) to check with O(upstream_token); only status and latency are returned.
    type: str
  upstream_token:
    description: Bearer token for O(upstream_url).
    type: str
  upstream_method:
    description: Method of the upstream check.
    type: str
    choices: [HEAD, GET]
    default: HEAD
  timeout:
    description: Seconds per request.
    type: float
    default: 10
  validate_certs:
    description: Verify TLS certificates.
    type: bool
    default: true
  host_header:
    description:
      - Host header of every request. The copilotos api enforces C(ALLOWED_HOSTS) on it (HTTP 400 for any other),
        so a probe from the server must name a host the api accepts.
    type: str
  mode:
    description: V(enforce) fails when there is any finding; V(audit) only returns the findings.
    type: str
    choices: [enforce, audit]
    default: enforce
extends_documentation_fragment:
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
  - The preflight is sent to O(url) itself; CORS middleware answers preflights for any path.
requirements: []
"""

EXAMPLES = r"""
- name: Check CORS and a burst of 50 like the diagnosis
  http_probe:
    url: "http://127.0.0.1:{{ copilotos_api_port }}/api/health"
    cors_origins:
      - https://copiloto.saptiva.com
      - http://localhost:3000
    burst: 50
    health_json: true
    mode: audit
  register: api_http

- name: Upstream reachable with the API key
  http_probe:
    url: "http://127.0.0.1:{{ copilotos_api_port }}/api/health"
    upstream_url: https://api.saptiva.com/v1/models
    upstream_token: "{{ vault_saptiva_api_key }}"
  no_log: true
"""

RETURN = r"""
status:
  description: Status of the GET of O(url) (null when unreachable).
  returned: always
  type: int
latency_ms:
  description: Latency of that GET.
  returned: always
  type: float
cors:
  description: One entry per origin.
  returned: always
  type: list
  elements: dict
  contains:
    origin: {description: The origin, type: str}
    allowed: {description: Whether a browser would allow the request, type: bool}
    status: {description: Preflight status, type: int}
    allow_origin: {description: Access-Control-Allow-Origin, type: str}
    allow_credentials: {description: Access-Control-Allow-Credentials, type: str}
    allow_methods: {description: Access-Control-Allow-Methods, type: str}
    allow_headers: {description: Access-Control-Allow-Headers, type: str}
    reasons: {description: Why it is not allowed, type: list}
burst:
  description: Burst summary (empty dict when O(burst=0)).
  returned: always
  type: dict
  sample: {count: 50, statuses: {"200": 50}, p50_ms: 4.1, p95_ms: 9.8, max_ms: 12.0, errors: 0, error_samples: []}
health:
  description: C({status, checks}) from the health body, statuses only.
  returned: when O(health_json=true) and the body parsed
  type: dict
upstream:
  description: C({url, reachable, status, latency_ms}); never the token.
  returned: when O(upstream_url) is set
  type: dict
findings:
  description:
    - Codes C(HTTP_UNREACHABLE), C(HTTP_STATUS_UNEXPECTED), C(CORS_PREFLIGHT_FAILED) (one per origin),
      C(BURST_NON_200), C(HEALTH_CHECK_UNHEALTHY), C(UPSTREAM_UNREACHABLE).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.copilotos_common import ModuleFailure, finish
from ansible.module_utils.copilotos_http import MODULE_KWARGS, run_probe


def run(module):
    try:
        return run_probe(module.params, module.no_log_values)
    except ValueError as exc:
        raise ModuleFailure(str(exc)) from None


def main():
    module = AnsibleModule(supports_check_mode=True, **MODULE_KWARGS)
    if module.params["burst"] < 0 or module.params["burst"] > 1000:
        module.fail_json(msg="http_probe: burst must be between 0 and 1000")
    finish(module, run, fail_if=lambda result: bool(result["findings"]) and module.params["mode"] == "enforce")


if __name__ == "__main__":
    main()
