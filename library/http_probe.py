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
author: copilotos-remediation contributors
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
  mode:
    description: V(enforce) fails when there is any finding; V(audit) only returns the findings.
    type: str
    choices: [enforce, audit]
    default: enforce
attributes:
  check_mode:
    support: full
    details: Read-only; runs the same in check mode.
  diff_mode:
    support: none
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

import http.client
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.copilotos_common import finding, mask_url_passwords
from ansible.module_utils.copilotos_http import (
    check_url,
    error_text,
    evaluate_cors,
    parse_health,
    request,
    run_burst,
    ssl_context,
)

NET_ERRORS = (OSError, http.client.HTTPException)


def run(module):
    p = module.params
    secrets = [p["upstream_token"]] if p["upstream_token"] else []
    for key in ("url", "upstream_url"):
        if p[key]:
            password = urlsplit(p[key]).password
            if password:
                # keeps a basic-auth password out of every output, ``invocation`` included
                module.no_log_values.add(password)
            try:
                check_url(p[key])
            except ValueError as exc:
                module.fail_json(msg="http_probe: %s: %s" % (key, exc))
    url, shown = p["url"], mask_url_passwords(p["url"])
    ctx = ssl_context(p["validate_certs"])
    findings = []
    result = {"changed": False, "url": shown, "status": None, "latency_ms": None, "cors": [], "burst": {}}

    try:
        resp = request("GET", url, timeout=p["timeout"], context=ctx)
    except NET_ERRORS as exc:
        resp = None
        findings.append(
            finding("HTTP_UNREACHABLE", "critical", "GET %s failed: %s" % (shown, error_text(exc)), url=shown)
        )
    if resp is not None:
        result.update(status=resp.status, latency_ms=round(resp.latency_ms, 1))
        if resp.status != p["expect_status"]:
            findings.append(
                finding(
                    "HTTP_STATUS_UNEXPECTED",
                    "critical",
                    "GET %s returned %s, expected %s" % (shown, resp.status, p["expect_status"]),
                    url=shown,
                    status=resp.status,
                )
            )
        if p["health_json"]:
            try:
                health, unhealthy = parse_health(resp.body)
                result["health"] = health
                if unhealthy:
                    findings.append(
                        finding(
                            "HEALTH_CHECK_UNHEALTHY",
                            "critical",
                            "%s reports unhealthy: %s"
                            % (shown, ", ".join("%s=%s" % kv for kv in sorted(unhealthy.items()))),
                            url=shown,
                            unhealthy=unhealthy,
                        )
                    )
            except ValueError:
                findings.append(
                    finding(
                        "HEALTH_CHECK_UNHEALTHY",
                        "critical",
                        "%s did not return a JSON health document" % shown,
                        url=shown,
                    )
                )

    request_headers = [h.strip() for h in p["cors_headers"].split(",") if h.strip()]
    for origin in p["cors_origins"]:
        headers = {"Origin": origin, "Access-Control-Request-Method": p["cors_method"]}
        if request_headers:
            headers["Access-Control-Request-Headers"] = ",".join(request_headers)
        try:
            pre = request("OPTIONS", url, headers=headers, timeout=p["timeout"], context=ctx)
            entry = evaluate_cors(
                origin, pre.status, pre.headers, p["cors_method"], request_headers, p["cors_credentials"]
            )
        except NET_ERRORS as exc:
            entry = evaluate_cors(origin, None, {}, p["cors_method"], request_headers, p["cors_credentials"])
            entry["reasons"] = ["preflight failed: %s" % error_text(exc)]
        result["cors"].append(entry)
        if not entry["allowed"]:
            findings.append(
                finding(
                    "CORS_PREFLIGHT_FAILED",
                    "critical",
                    "CORS preflight from %s to %s refused: %s" % (origin, shown, "; ".join(entry["reasons"])),
                    origin=origin,
                    url=shown,
                )
            )

    if p["burst"] > 0:
        burst = run_burst(url, p["burst"], p["timeout"], ctx)
        result["burst"] = burst
        bad = {k: v for k, v in burst["statuses"].items() if k != str(p["expect_status"])}
        if bad or burst["errors"]:
            findings.append(
                finding(
                    "BURST_NON_200",
                    "medium",
                    "%d concurrent GETs of %s: statuses %s, %d error(s)"
                    % (burst["count"], shown, burst["statuses"], burst["errors"]),
                    url=shown,
                    statuses=burst["statuses"],
                    errors=burst["errors"],
                )
            )

    if p["upstream_url"]:
        up_shown = mask_url_passwords(p["upstream_url"])
        headers = {"Authorization": "Bearer %s" % p["upstream_token"]} if p["upstream_token"] else {}
        upstream = {"url": up_shown, "reachable": False, "status": None, "latency_ms": None}
        try:
            uresp = request(
                p["upstream_method"],
                p["upstream_url"],
                headers=headers,
                timeout=p["timeout"],
                context=ctx,
                read_body=False,
            )
            upstream.update(reachable=True, status=uresp.status, latency_ms=round(uresp.latency_ms, 1))
        except NET_ERRORS as exc:
            findings.append(
                finding(
                    "UPSTREAM_UNREACHABLE",
                    "medium",
                    "%s %s failed: %s" % (p["upstream_method"], up_shown, error_text(exc, secrets)),
                    url=up_shown,
                )
            )
        result["upstream"] = upstream

    result["findings"] = findings
    if findings:
        msg = "http_probe: %s: %s" % (shown, "; ".join(f["message"] for f in findings))
        if p["mode"] == "enforce":
            module.fail_json(msg=msg[:1000], **result)
        result["msg"] = msg[:1000]
    else:
        result["msg"] = "http_probe: %s: all checks passed" % shown
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            expect_status=dict(type="int", default=200),
            cors_origins=dict(type="list", elements="str", default=[]),
            cors_method=dict(type="str", default="POST"),
            cors_headers=dict(type="str", default="content-type,authorization"),
            cors_credentials=dict(type="bool", default=True),
            burst=dict(type="int", default=0),
            health_json=dict(type="bool", default=False),
            upstream_url=dict(type="str"),
            upstream_token=dict(type="str", no_log=True),
            upstream_method=dict(type="str", default="HEAD", choices=["HEAD", "GET"]),
            timeout=dict(type="float", default=10),
            validate_certs=dict(type="bool", default=True),
            mode=dict(type="str", default="enforce", choices=["enforce", "audit"]),
        ),
        required_by={"upstream_token": "upstream_url"},
        supports_check_mode=True,
    )
    if module.params["burst"] < 0 or module.params["burst"] > 1000:
        module.fail_json(msg="http_probe: burst must be between 0 and 1000")
    run(module)


if __name__ == "__main__":
    main()
