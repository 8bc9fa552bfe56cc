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

from ansible.module_utils.copilotos_common import mask_text, mask_url_passwords, one_line

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
