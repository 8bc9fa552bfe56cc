# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Causes and their symptoms: the unit an operator reads, counts and fixes.

A *cause* is one thing that is wrong, said once: what, where (file:line, a
Compose key, a container), the fix, and who can apply it (``toolkit``: this
toolkit applies it; ``application``: application code it can only report;
``operator``: a decision it must not take alone). Everything observed
because of it (log signatures, failed probes, a degraded health check,
drift) is a *symptom* listed under it, never a finding of its own. Counts
and severities are per cause; every symptom stays in the JSON for tooling.

A cause is a finding (``code``, ``severity``, ``message``, ``evidence``)
with ``where``, ``fix``, ``fixable`` and ``symptoms`` added, so every
consumer of findings reads causes unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .copilotos_common import SEVERITIES

FIXABLE = ("toolkit", "application", "operator")

# Which cause a symptom belongs to, by the symptom's area: the first cause
# present in the list takes it. A symptom no cause takes becomes a cause.
SYMPTOM_HOMES: dict[str, tuple[str, ...]] = {
    "redis": ("REDIS_CLIENTS_MISCONFIGURED", "REDIS_PASSWORD_UNENCODABLE", "REDIS_UNREACHABLE", "REDIS_AUTH_FAILED"),
    "mongo": ("MONGO_UNREACHABLE", "MONGO_AUTH_FAILED", "MONGO_POOL_AGGRESSIVE"),
    "cors": ("CORS_ORIGIN_MISSING", "CORS_UNPARSEABLE", "CORS_PREFLIGHT_FAILED"),
    "rate_limit": ("RATE_LIMIT_BELOW_PLAN", "RATE_LIMIT_NOT_AS_PLANNED"),
    "http": ("API_STARTUP_REJECTED", "CONTAINER_UNHEALTHY", "HTTP_UNREACHABLE"),
    "drift": ("CONTAINER_ENV_DRIFT", "COMPOSE_SHADOWS_ENV_FILE"),
    "saptiva": ("SAPTIVA_TIMEOUT_BELOW_PLAN", "SAPTIVA_CONNECT_TIMEOUT_IN_CODE"),
}
_RANK = {name: index for index, name in enumerate(SEVERITIES)}


def cause(
    code: str,
    severity: str,
    message: str,
    fix: str,
    fixable: str = "toolkit",
    where: Iterable[Mapping[str, Any]] = (),
    area: str | None = None,
    **evidence: Any,
) -> dict[str, Any]:
    """One cause; ``evidence`` must already be masked."""
    if severity not in SEVERITIES:
        raise ValueError("unknown severity %r" % severity)
    if fixable not in FIXABLE:
        raise ValueError("unknown fixable %r" % fixable)
    out: dict[str, Any] = {
        "code": code,
        "severity": severity,
        "message": message,
        "fix": fix,
        "fixable": fixable,
        "where": [dict(w) for w in where],
        "symptoms": [],
        "evidence": evidence,
    }
    if area:
        out["area"] = area
    return out


def symptom(code: str, area: str, message: str, severity: str = "medium", **evidence: Any) -> dict[str, Any]:
    """One observation: a log signature, a failed probe, a degraded health check."""
    if severity not in SEVERITIES:
        raise ValueError("unknown severity %r" % severity)
    return {"code": code, "area": area, "severity": severity, "message": message, "evidence": evidence}


def worse(a: str, b: str) -> str:
    return a if _RANK.get(a, 9) <= _RANK.get(b, 9) else b


def attach(causes: list[dict[str, Any]], symptoms: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Put every symptom under its cause; an orphan symptom becomes a cause of its own.

    An orphan keeps its own code and severity and says it was observed but
    not explained by a configuration rule (the fix names where to look).
    """
    out = [dict(c, symptoms=list(c.get("symptoms") or [])) for c in causes]
    by_code = {c["code"]: c for c in out}
    orphans: dict[str, dict[str, Any]] = {}
    for item in symptoms:
        home = next((by_code[code] for code in SYMPTOM_HOMES.get(str(item.get("area")), ()) if code in by_code), None)
        if home is not None:
            home["symptoms"].append(dict(item))
            continue
        key = str(item["code"])
        if key in orphans:
            orphans[key]["symptoms"].append(dict(item))
            orphans[key]["severity"] = worse(orphans[key]["severity"], str(item.get("severity", "medium")))
            continue
        orphans[key] = cause(
            key, str(item.get("severity", "medium")), str(item.get("message", "")),
            fix="observed on the live system; no configuration rule explains it: see the symptoms' evidence",
            fixable="operator", area=str(item.get("area") or "") or None,
        )
        orphans[key]["symptoms"].append(dict(item))
        orphans[key]["evidence"] = dict(item.get("evidence") or {})
    return sort_causes(out + list(orphans.values()))


def sort_causes(causes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Worst first, then by code: a stable order for reports and tests."""
    return sorted(causes, key=lambda c: (_RANK.get(c["severity"], 9), c["code"]))


def merge(*groups: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Causes of several rule passes, one per code (the first pass's wins)."""
    seen: dict[str, dict[str, Any]] = {}
    for group in groups:
        for item in group:
            seen.setdefault(item["code"], item)
    return sort_causes(list(seen.values()))


def counts(causes: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    out = {name: 0 for name in SEVERITIES}
    for item in causes:
        out[str(item["severity"])] = out.get(str(item["severity"]), 0) + 1
    return out
