# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report model: validation, secret detection, masking, enrichment from the
findings catalogue, the report document and the summary (pure functions).

Rendering (Markdown, HTML with its Content-Security-Policy, the leak check) is
in ``copilotos_report_render``; the file I/O (run directory 0700, files 0600
written atomically, ``index.html`` regenerated under a file lock, the
``latest`` link) in ``copilotos_report_io``.

The report document is described in ``docs/report-schema.md``
(``schema_version`` 1).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from typing import Any

from .copilotos_common import (
    SEVERITIES,
    VERIFY_STEPS,
    mask_url_passwords,
    secret_paths,
)

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - PyYAML ships with ansible-core
    HAS_YAML = False

SCHEMA_VERSION = 1
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
FAIL_ON = ("critical", "medium", "low", "never")
MODES = ("audit", "remediate", "rollback")
RESULTS = ("compliant", "remediated", "findings", "failed", "rolled_back", "refused", "unreachable")
VERIFY_VALUES = ("passed", "failed", "skipped")
CATALOGUE_FIELDS = ("id", "severity", "title", "check", "fix")
NEXT_AUDIT_HOURS = 48
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
UNKNOWN_CODE = "UNKNOWN_FINDING"
ROLLED_BACK_CODE = "ROLLED_BACK"
AREA_LABELS = {
    "redis": "Redis",
    "cors": "CORS",
    "saptiva": "SAPTIVA timeouts",
    "timeouts": "SAPTIVA timeouts",
    "mongo": "MongoDB",
    "mongodb": "MongoDB",
    "rate_limit": "Rate limit",
    "drift": "Configuration drift",
    "inert": "Keys the application never reads",
    "files": "Files",
    "http": "API and containers",
    "containers": "Containers",
    "api": "API",
    "logs": "API logs",
    "code": "Application code (advisory)",
    "run": "Run outcome",
}
_CODE = re.compile(r"^[A-Z][A-Z0-9_]*$")
_SAFE_HOST = re.compile(r"[^A-Za-z0-9._-]")


# The options of copilotos_report, once: the module's main and the action
# plugin (which runs it in the controller's worker, no module round trip)
# validate against this spec.
ARGUMENT_SPEC: dict[str, dict[str, Any]] = dict(
    run=dict(type="dict", required=True),
    catalogue=dict(type="path", required=True),
    report_dir=dict(type="path", required=True),
    template_dir=dict(type="path", required=True),
    latest_link=dict(type="path"),
    run_id=dict(type="str"),
    fail_on=dict(type="str", default="critical", choices=list(FAIL_ON)),
    next_audit_hours=dict(type="int", default=NEXT_AUDIT_HOURS),
    secrets=dict(type="list", elements="str", default=[], no_log=True),
)


class ReportError(Exception):
    """A report cannot be built or written; the message names why and where."""


# --------------------------------------------------------------------------
# Catalogue
# --------------------------------------------------------------------------


def catalogue_errors(data: Any) -> list[str]:
    """Problems of a loaded catalogue document (empty when it is valid)."""
    if not isinstance(data, dict) or not isinstance(data.get("findings"), list):
        return ["the catalogue must be a mapping with a 'findings' list"]
    errors = []
    seen: set[str] = set()
    for index, entry in enumerate(data["findings"]):
        where = "findings[%d]" % index
        if not isinstance(entry, dict):
            errors.append("%s is not a mapping" % where)
            continue
        where = "%s (%s)" % (where, entry.get("id", "?"))
        for field in CATALOGUE_FIELDS:
            value = entry.get(field)
            if not isinstance(value, str) or not value.strip():
                errors.append("%s: field %r is missing or empty" % (where, field))
        code = entry.get("id")
        if isinstance(code, str):
            if not _CODE.match(code):
                errors.append("%s: id is not UPPER_SNAKE" % where)
            if code in seen:
                errors.append("%s: duplicate id" % where)
            seen.add(code)
        if entry.get("severity") not in SEVERITIES:
            errors.append("%s: severity must be one of %s" % (where, ", ".join(SEVERITIES)))
    return errors


def load_catalogue(path: str) -> dict[str, dict[str, Any]]:
    """Load and validate the findings catalogue; return it keyed by id."""
    if not HAS_YAML:
        raise ReportError("PyYAML is needed to read the findings catalogue")
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except OSError as exc:
        raise ReportError("cannot read the findings catalogue %s: %s" % (path, exc.strerror)) from None
    except yaml.YAMLError as exc:
        raise ReportError("the findings catalogue %s is not valid YAML: %s" % (path, exc)) from None
    errors = catalogue_errors(data)
    if errors:
        raise ReportError("invalid findings catalogue %s: %s" % (path, "; ".join(errors[:5])))
    return {entry["id"]: entry for entry in data["findings"]}


# --------------------------------------------------------------------------
# The run record (copilotos_run)
# --------------------------------------------------------------------------


def _check_type(errors: list[str], run: dict[str, Any], key: str, kinds: tuple[type, ...], label: str) -> None:
    if key in run and run[key] is not None and not isinstance(run[key], kinds):
        errors.append("run.%s must be %s" % (key, label))


def run_errors(run: Any) -> list[str]:
    """Problems of a ``copilotos_run`` record against the documented shape."""
    if not isinstance(run, dict):
        return ["run must be a mapping (the copilotos_run fact)"]
    errors: list[str] = []
    host = run.get("host")
    if not isinstance(host, str) or not host.strip():
        errors.append("run.host must be a non-empty string")
    if run.get("mode") not in MODES:
        errors.append("run.mode must be one of %s" % ", ".join(MODES))
    if run.get("result") not in RESULTS:
        errors.append("run.result must be one of %s" % ", ".join(RESULTS))
    for key in ("started", "finished", "user", "project_dir", "compose_project", "failure", "backup_path",
                "started_before", "started_after"):
        _check_type(errors, run, key, (str,), "a string or null")
    for key in ("check_mode", "override_changed", "recreated"):
        _check_type(errors, run, key, (bool,), "a boolean")
    for key in ("containers", "findings", "changed_keys", "history"):
        _check_type(errors, run, key, (list,), "a list")
    _check_type(errors, run, "verification", (dict,), "a mapping")
    _check_type(errors, run, "log_watch", (dict,), "a mapping or null")
    errors += log_watch_errors(run.get("log_watch"))
    for index, item in enumerate(run.get("containers") or []):
        if not isinstance(item, dict):
            errors.append("run.containers[%d] must be a mapping" % index)
    for index, item in enumerate(run.get("findings") or []):
        if not isinstance(item, dict) or not isinstance(item.get("code"), str) or not item["code"]:
            errors.append("run.findings[%d] must be a mapping with a code" % index)
            continue
        severity = item.get("severity")
        if severity is not None and severity not in SEVERITIES:
            errors.append("run.findings[%d].severity must be one of %s" % (index, ", ".join(SEVERITIES)))
        if item.get("evidence") is not None and not isinstance(item["evidence"], dict):
            errors.append("run.findings[%d].evidence must be a mapping" % index)
    for index, item in enumerate(run.get("changed_keys") or []):
        if not isinstance(item, str):
            errors.append("run.changed_keys[%d] must be a key name" % index)
    for index, item in enumerate(run.get("history") or []):
        if not isinstance(item, dict):
            errors.append("run.history[%d] must be a mapping" % index)
    for step, value in (run.get("verification") or {}).items():
        if value is not None and value not in VERIFY_VALUES:
            errors.append("run.verification.%s must be one of %s" % (step, ", ".join(VERIFY_VALUES)))
    return errors


def log_watch_errors(watch: Any) -> list[str]:
    """Problems of ``run.log_watch`` (the verification's log scan), when there is one."""
    if not isinstance(watch, dict):
        return []
    errors = []
    for key in ("window_s", "scanned_lines"):
        value = watch.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            unit = "seconds" if key == "window_s" else "lines"
            errors.append("run.log_watch.%s must be a number of %s or null" % (key, unit))
    if watch.get("since") is not None and not isinstance(watch["since"], str):
        errors.append("run.log_watch.since must be a string or null")
    counts = watch.get("counts")
    if counts is not None and (
        not isinstance(counts, dict)
        or any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in counts.values())
    ):
        errors.append("run.log_watch.counts must map each signature to a count")
    return errors


def mask_tree(value: Any) -> Any:
    """Copy of ``value`` with every ``scheme://user:password@`` password masked."""
    if isinstance(value, dict):
        return {mask_url_passwords(key): mask_tree(sub) for key, sub in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_tree(sub) for sub in value]
    if isinstance(value, str):
        return mask_url_passwords(value)
    return value


def safe_host_name(host: str) -> str:
    """A file-name-safe form of an inventory host name."""
    name = _SAFE_HOST.sub("_", host).lstrip(".")
    return name or "host"


# --------------------------------------------------------------------------
# The report document
# --------------------------------------------------------------------------


AREA_RANK = {name: rank for rank, name in enumerate(AREA_LABELS)}


def severity_key(item: dict[str, Any]) -> tuple[int, int, str]:
    """Severity first; within one severity, causes (configuration) before symptoms (logs, probes)."""
    return (
        SEVERITY_RANK.get(item.get("severity", "info"), len(SEVERITIES)),
        AREA_RANK.get(item.get("area", ""), len(AREA_RANK)),
        str(item.get("code", "")),
    )


def enrich_findings(
    findings: list[dict[str, Any]], catalogue: dict[str, dict[str, Any]], warnings: list[str]
) -> list[dict[str, Any]]:
    """Findings with catalogue title/check/fix/area, sorted by severity (stable)."""
    fallback = catalogue.get(UNKNOWN_CODE, {"severity": "medium", "title": "", "check": "", "fix": "", "area": "run"})
    out = []
    for item in findings:
        code = item["code"]
        entry = catalogue.get(code)
        if entry is None:
            warnings.append("finding code %s is not in the findings catalogue" % code)
        source = entry or fallback
        severity = item.get("severity") or source["severity"]
        # A cause (copilotos_causes) carries its own fix, place and area,
        # computed from the live state: they win over the catalogue's
        # generic text, which stays the title and "what is checked".
        out.append(
            {
                "code": code,
                "severity": severity,
                "title": source["title"] if entry else code,
                "message": str(item.get("message") or source["title"]),
                "evidence": item.get("evidence") or {},
                "check": source["check"],
                "fix": str(item.get("fix") or source["fix"]),
                "fixable": item.get("fixable") or "toolkit",
                "where": list(item.get("where") or []),
                "symptoms": list(item.get("symptoms") or []),
                "area": item.get("area") or source.get("area", "run"),
                "catalogued": entry is not None,
            }
        )
    return sorted(out, key=severity_key)


def count_by_severity(findings: list[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(SEVERITIES, 0)
    for item in findings:
        counts[item["severity"]] = counts.get(item["severity"], 0) + 1
    return counts


def action_plan(findings: list[dict[str, Any]], host: str, remediable: bool) -> list[dict[str, Any]]:
    """One step per area, in the order of the most severe finding of each area."""
    steps: list[dict[str, Any]] = []
    by_area: dict[str, dict[str, Any]] = {}
    for item in findings:
        step = by_area.get(item["area"])
        if step is None:
            step = {
                "area": item["area"],
                "title": AREA_LABELS.get(item["area"], item["area"]),
                "severity": item["severity"],
                "codes": [],
                "fixes": [],
            }
            by_area[item["area"]] = step
            steps.append(step)
        if item["code"] not in step["codes"]:
            step["codes"].append(item["code"])
        if item["fix"] not in step["fixes"]:
            step["fixes"].append(item["fix"])
    for number, step in enumerate(steps, 1):
        step["step"] = number
    if steps and remediable:
        steps.append(
            {
                "step": len(steps) + 1,
                "area": "run",
                "title": "Apply and verify",
                "severity": steps[0]["severity"],
                "codes": [],
                "fixes": [
                    "Run `ansible-playbook remediate.yml --limit %s` (first with `--check --diff` to preview), "
                    "then run this audit again: it exits 0 when nothing at or above the alert level remains." % host
                ],
            }
        )
    return steps


def verification_rows(verification: dict[str, Any]) -> list[dict[str, str]]:
    names = [name for name in VERIFY_STEPS if name in verification]
    names += sorted(name for name in verification if name not in VERIFY_STEPS)
    return [{"step": name, "result": verification[name] or "skipped"} for name in names]


def overall_verification(run: dict[str, Any]) -> str:
    """rolled_back, unreachable, failed, passed, skipped or not_run for the whole run."""
    if run.get("result") in ("rolled_back", "unreachable"):
        return str(run["result"])
    values = [value for value in (run.get("verification") or {}).values() if value]
    if "failed" in values or run.get("result") == "failed":
        return "failed"
    if "passed" in values:
        return "passed"
    return "skipped" if values else "not_run"


def is_audit(run: dict[str, Any]) -> bool:
    return bool(run.get("check_mode")) or run.get("mode") == "audit"


def at_or_above(severity: Any, fail_on: str) -> bool:
    """Whether a finding of ``severity`` counts against ``fail_on`` (nothing does for ``never``)."""
    return fail_on != "never" and SEVERITY_RANK.get(severity, 99) <= SEVERITY_RANK[fail_on]


def fail_count(counts: dict[str, int], fail_on: str) -> int:
    """Findings at or above ``fail_on`` (0 for ``never``)."""
    return sum(count for severity, count in counts.items() if at_or_above(severity, fail_on))


def fail_codes(findings: list[dict[str, Any]], fail_on: str) -> list[str]:
    """Codes of the findings at or above ``fail_on``, most severe first, each once."""
    hits = [f for f in findings if at_or_above(f.get("severity"), fail_on)]
    hits.sort(key=lambda f: SEVERITY_RANK[f["severity"]])  # stable: report order within a severity
    return list(dict.fromkeys(str(f.get("code")) for f in hits))


def normalize_container(item: dict[str, Any]) -> dict[str, Any]:
    """A container entry with the contract's names.

    ``state`` falls back to Docker's ``status`` and ``service`` to ``name`` (the shape
    ``config_audit`` returns); other keys are kept.
    """
    out = dict(item)
    out["service"] = item.get("service") or item.get("name") or "?"
    out["state"] = item.get("state") or item.get("status")
    return out


def parse_utc(text: Any) -> datetime.datetime | None:
    """A UTC time from ``2026-11-29T06:01:00Z`` style text (None when it is not one)."""
    if not isinstance(text, str) or not text.strip():
        return None
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.astimezone(datetime.timezone.utc)


def next_audit(finished: Any, generated_at: Any, hours: int) -> dict[str, Any]:
    """When the next scheduled audit looks again: the run's end (else the report's time) + ``hours``."""
    base = parse_utc(finished) or parse_utc(generated_at)
    at = (base + datetime.timedelta(hours=hours)).strftime(TIME_FORMAT) if base else None
    return {"after_hours": hours, "from": base.strftime(TIME_FORMAT) if base else None, "at": at}


def log_watch(run: dict[str, Any]) -> dict[str, Any] | None:
    """The verification's log scan: the window watched, what it read, the signatures with counts."""
    watch = run.get("log_watch")
    if not isinstance(watch, dict):
        return None
    counts = watch.get("counts") or {}
    signatures = [
        {"signature": str(name), "code": "LOG_SIGNATURE_%s" % str(name).upper(), "count": int(count)}
        for name, count in sorted(counts.items(), key=lambda item: (-int(item[1]), str(item[0])))
    ]
    return {
        "window_s": watch.get("window_s"),
        "since": watch.get("since"),
        "scanned_lines": watch.get("scanned_lines"),
        "signatures": signatures,
        "matches": sum(item["count"] for item in signatures),
    }


def made_a_change(run: dict[str, Any], audit: bool) -> bool:
    """Whether the run changed the host (a rollback did: it changed, then restored)."""
    if audit or run.get("result") in ("refused", "unreachable"):
        return False
    return bool(run.get("changed_keys") or run.get("override_changed") or run.get("recreated")
                or run.get("result") == "rolled_back")


def post_change(
    run: dict[str, Any], audit: bool, verification: list[dict[str, str]], overall: str, generated_at: str,
    next_audit_hours: int,
) -> dict[str, Any] | None:
    """The post-change record (the diagnosis's production checklist); None when nothing was changed.

    Everything comes from the run record the earlier stages published: the
    backup (copilotos_backup), the keys (copilotos_write, names only), the
    restart (compose_apply's StartedAt before and after), the verification and
    its log watch (copilotos_verify).
    """
    if not made_a_change(run, audit):
        return None
    recreated = bool(run.get("recreated"))
    return {
        "backup_path": run.get("backup_path"),
        "changed_keys": list(run.get("changed_keys") or []),
        "override_changed": bool(run.get("override_changed")),
        "restart": {
            "recreated": recreated,
            "service": "api",
            "started_before": run.get("started_before"),
            "started_after": run.get("started_after") if recreated else None,
        },
        "verification": [dict(row) for row in verification],
        "verification_overall": overall,
        "log_watch": log_watch(run),
        "rolled_back": run.get("result") == "rolled_back",
        "next_audit": next_audit(run.get("finished"), generated_at, next_audit_hours),
    }


def build_report(
    run: dict[str, Any],
    catalogue: dict[str, dict[str, Any]],
    run_id: str,
    generated_at: str,
    warnings: list[str] | None = None,
    next_audit_hours: int = NEXT_AUDIT_HOURS,
) -> dict[str, Any]:
    """The JSON report document of one host (schema_version 1).

    ``run`` must be valid (``run_errors``) and already masked.
    """
    warnings = warnings if warnings is not None else []
    raw_findings = list(run.get("findings") or [])
    if run.get("result") == "rolled_back" and not any(f.get("code") == ROLLED_BACK_CODE for f in raw_findings):
        raw_findings.append(
            {
                "code": ROLLED_BACK_CODE,
                "message": run.get("failure") or "the run rolled back to the backup",
                "evidence": {"failure": run.get("failure"), "backup_path": run.get("backup_path")},
            }
        )
    findings = enrich_findings(raw_findings, catalogue, warnings)
    counts = count_by_severity(findings)
    worst = findings[0]["severity"] if findings else None
    audit = is_audit(run)
    host = run["host"]
    changed_keys = list(run.get("changed_keys") or [])
    verification = verification_rows(run.get("verification") or {})
    overall = overall_verification(run)
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "generated_at": generated_at,
        "host": host,
        "mode": run["mode"],
        "check_mode": bool(run.get("check_mode")),
        "audit": audit,
        "result": run["result"],
        "failure": run.get("failure"),
        "user": run.get("user"),
        "started": run.get("started"),
        "finished": run.get("finished"),
        "project_dir": run.get("project_dir"),
        "compose_project": run.get("compose_project"),
        "severity": worst,
        "counts": counts,
        "containers": [normalize_container(c) for c in run.get("containers") or []],
        "findings": findings,
        "action_plan": action_plan(findings, host, remediable=audit or run["result"] in ("failed", "rolled_back")),
        "verification": verification,
        "verification_overall": overall,
        "changes": {
            "audit_only": audit,
            "changed_keys": [] if audit else changed_keys,
            "would_change_keys": changed_keys if audit else [],
            "override_changed": bool(run.get("override_changed")) and not audit,
            "backup_path": run.get("backup_path"),
            "recreated": bool(run.get("recreated")) and not audit,
        },
        "post_change": post_change(run, audit, verification, overall, generated_at, next_audit_hours),
        "history": list(run.get("history") or []),
    }


def summary(report: dict[str, Any], files: dict[str, str], fail_on: str) -> dict[str, Any]:
    """The short per-host record the role publishes for the summary callback."""
    changes = report["changes"]
    return {
        "host": report["host"],
        "mode": report["mode"],
        "check_mode": report["check_mode"],
        "audit": report["audit"],
        "result": report["result"],
        "severity": report["severity"],
        "counts": dict(report["counts"]),
        "changed_keys": list(changes["changed_keys"]),
        "recreated": changes["recreated"],
        "verification": report["verification_overall"],
        "report": files.get("markdown", ""),
        "json": files.get("json", ""),
        "index": files.get("index", ""),
        "fail_on": fail_on,
        "fail_count": fail_count(report["counts"], fail_on),
        "fail_codes": fail_codes(report["findings"], fail_on),
    }


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def prepare(
    run: Any,
    catalogue_path: str,
    secrets: Iterable[str | None],
    run_id: str,
    generated_at: str,
    warnings: list[str],
    next_audit_hours: int = NEXT_AUDIT_HOURS,
) -> dict[str, Any]:
    """Validate, refuse secrets, mask and build one host's report document."""
    errors = run_errors(run)
    if errors:
        raise ReportError("invalid copilotos_run: %s" % "; ".join(errors[:8]))
    secrets = list(secrets)
    leaks = secret_paths(run, secrets, "run")
    if leaks:
        raise ReportError(
            "copilotos_run holds a secret value at %s; refusing to write any report" % ", ".join(leaks[:5])
        )
    masked = mask_tree(run)
    if isinstance(next_audit_hours, bool) or not isinstance(next_audit_hours, int) or next_audit_hours < 1:
        raise ReportError("next_audit_hours must be a whole number of hours, at least 1")
    return build_report(masked, load_catalogue(catalogue_path), run_id, generated_at, warnings, next_audit_hours)
