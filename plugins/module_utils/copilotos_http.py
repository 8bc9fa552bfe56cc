# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP probing helpers for http_probe: stdlib only (http.client, threading).

Pure helpers (CORS evaluation, percentiles, health parsing) are separate from
the network calls so they can be unit tested without a server.
"""

from __future__ import annotations

import http.client
import json
import math
import ssl
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from .copilotos_common import finding, mask_text, mask_url_passwords, one_line

BODY_LIMIT = 1024 * 1024
HEALTHY = {"healthy", "ok", "up", "pass", "passing", "true", "green", "available"}


class Response:
    """What a probe keeps of a response: status, lower-cased headers, bounded body, latency."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes, latency_ms: float) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.latency_ms = latency_ms


def check_url(url: str) -> None:
    """Only absolute http(s) URLs with a host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("%s is not an http(s) URL with a host" % mask_url_passwords(url))


def ssl_context(validate_certs: bool = True) -> ssl.SSLContext:
    if validate_certs:
        return ssl.create_default_context()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def request(
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
    context: ssl.SSLContext | None = None,
    read_body: bool = True,
) -> Response:
    """One request, no redirects followed. Raises OSError or http.client.HTTPException."""
    parts = urlsplit(url)
    path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    start = time.perf_counter()
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read(BODY_LIMIT) if read_body and method != "HEAD" else b""
        latency = (time.perf_counter() - start) * 1000.0
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body, latency)
    finally:
        conn.close()


def error_text(exc: BaseException, secrets: list[str] | None = None) -> str:
    """A one-line, masked description of a network error."""
    text = "%s: %s" % (type(exc).__name__, exc) if str(exc) else type(exc).__name__
    return one_line(mask_url_passwords(mask_text(text, secrets or [])), 200)


def _tokens(value: str | None) -> list[str]:
    return [t.strip().lower() for t in (value or "").split(",") if t.strip()]


def evaluate_cors(
    origin: str,
    status: int | None,
    headers: dict[str, str],
    method: str = "POST",
    request_headers: list[str] | None = None,
    credentials: bool = True,
) -> dict[str, Any]:
    """Judge one preflight response the way a browser would.

    With credentials a wildcard is not accepted (Fetch standard); a wildcard
    in Allow-Headers never covers ``authorization``.
    """
    allow_origin = headers.get("access-control-allow-origin")
    allow_credentials = headers.get("access-control-allow-credentials")
    allow_methods = headers.get("access-control-allow-methods")
    allow_headers = headers.get("access-control-allow-headers")
    reasons = []
    if status is None or not 200 <= status < 300:
        reasons.append("preflight status %s" % status)
    if allow_origin is None:
        reasons.append("no Access-Control-Allow-Origin")
    elif allow_origin != origin and not (allow_origin == "*" and not credentials):
        reasons.append("Access-Control-Allow-Origin is %r" % allow_origin)
    if credentials and (allow_credentials or "").strip().lower() != "true":
        reasons.append("Access-Control-Allow-Credentials is not true")
    methods = _tokens(allow_methods)
    wildcard = "*" in methods and not credentials
    if method.lower() not in methods and not wildcard:
        reasons.append("method %s not allowed" % method.upper())
    allowed_headers = _tokens(allow_headers)
    header_wildcard = "*" in allowed_headers and not credentials
    for name in request_headers or []:
        name = name.strip().lower()
        if not name or name in allowed_headers:
            continue
        if header_wildcard and name != "authorization":
            continue
        reasons.append("header %s not allowed" % name)
    return {
        "origin": origin,
        "allowed": not reasons,
        "status": status,
        "allow_origin": allow_origin,
        "allow_credentials": allow_credentials,
        "allow_methods": allow_methods,
        "allow_headers": allow_headers,
        "reasons": reasons,
    }


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (no interpolation); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def burst_summary(results: list[tuple[int | None, float, str | None]]) -> dict[str, Any]:
    """``(status or None, latency_ms, error or None)`` per request -> histogram and latencies."""
    statuses: dict[str, int] = {}
    latencies = []
    errors = []
    for status, latency, error in results:
        if status is None:
            errors.append(error or "error")
            continue
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        latencies.append(latency)

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    return {
        "count": len(results),
        "statuses": statuses,
        "p50_ms": rounded(percentile(latencies, 50)),
        "p95_ms": rounded(percentile(latencies, 95)),
        "max_ms": rounded(max(latencies) if latencies else None),
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:3],
    }


def run_burst(
    url: str,
    count: int,
    timeout: float = 10.0,
    context: ssl.SSLContext | None = None,
    headers: dict[str, str] | None = None,
    secrets: list[str] | None = None,
) -> dict[str, Any]:
    """``count`` concurrent GETs, released together by a barrier."""
    results: list[tuple[int | None, float, str | None]] = [(None, 0.0, "not run")] * count
    barrier = threading.Barrier(count)

    def one(index: int) -> None:
        try:
            barrier.wait(timeout=timeout)
        except threading.BrokenBarrierError:
            pass
        start = time.perf_counter()
        try:
            resp = request("GET", url, headers=headers, timeout=timeout, context=context)
            results[index] = (resp.status, resp.latency_ms, None)
        except (OSError, http.client.HTTPException) as exc:
            results[index] = (None, (time.perf_counter() - start) * 1000.0, error_text(exc, secrets))

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout * 3 + 5)
    return burst_summary(results)


def _status_of(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("status", value.get("state", value.get("healthy")))
    if isinstance(value, bool):
        return "healthy" if value else "unhealthy"
    return str(value)


def parse_health(body: bytes) -> tuple[dict[str, Any], dict[str, str]]:
    """A health JSON body -> ``{status, checks: {name: status}}`` and the unhealthy ones.

    Only statuses are kept: check details may carry connection strings.
    Raises ValueError when the body is not a JSON object.
    """
    doc = json.loads(body.decode("utf-8", "replace"))
    if not isinstance(doc, dict):
        raise ValueError("health body is not a JSON object")
    status = _status_of(doc.get("status")) if "status" in doc else None
    raw_checks = doc.get("checks") or doc.get("components") or doc.get("services") or {}
    checks: dict[str, str] = {}
    if isinstance(raw_checks, dict):
        checks = {str(k): _status_of(v) for k, v in raw_checks.items()}
    elif isinstance(raw_checks, list):
        for item in raw_checks:
            if isinstance(item, dict) and item.get("name"):
                checks[str(item["name"])] = _status_of(item)
    unhealthy = {k: v for k, v in checks.items() if v.lower() not in HEALTHY}
    if status is not None and status.lower() not in HEALTHY:
        unhealthy.setdefault("(overall)", status)
    return {"status": status, "checks": checks}, unhealthy


NET_ERRORS = (OSError, http.client.HTTPException)


def run_probe(p: dict[str, Any], no_log_values: set[str] | None = None) -> dict[str, Any]:
    """The probe on a module's parameters; raises ValueError for an unusable URL, never exits."""
    secrets = [p["upstream_token"]] if p["upstream_token"] else []
    for key in ("url", "upstream_url"):
        if p[key]:
            password = urlsplit(p[key]).password
            if password:
                # keeps a basic-auth password out of every output, ``invocation`` included
                if no_log_values is not None:
                    no_log_values.add(password)
            try:
                check_url(p[key])
            except ValueError as exc:
                raise ValueError("http_probe: %s: %s" % (key, exc)) from None
    url, shown = p["url"], mask_url_passwords(p["url"])
    ctx = ssl_context(p["validate_certs"])
    findings = []
    cors: list[dict[str, Any]] = []
    result: dict[str, Any] = {
        "changed": False, "url": shown, "status": None, "latency_ms": None, "cors": cors, "burst": {}
    }

    base_headers = {"Host": p["host_header"]} if p.get("host_header") else {}
    try:
        resp = request("GET", url, headers=base_headers, timeout=p["timeout"], context=ctx)
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
        headers = dict(base_headers, Origin=origin)
        headers["Access-Control-Request-Method"] = p["cors_method"]
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
        cors.append(entry)
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
        burst = run_burst(url, p["burst"], p["timeout"], ctx, headers=base_headers or None)
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
        result["msg"] = ("http_probe: %s: %s" % (shown, "; ".join(f["message"] for f in findings)))[:1000]
    else:
        result["msg"] = "http_probe: %s: all checks passed" % shown
    return result


MODULE_KWARGS: dict[str, Any] = dict(
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
        host_header=dict(type="str"),
        mode=dict(type="str", default="enforce", choices=["enforce", "audit"]),
    ),
    required_by={"upstream_token": "upstream_url"},
)
