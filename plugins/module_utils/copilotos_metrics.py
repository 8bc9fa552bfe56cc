# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prometheus textfile metrics of a run: pure functions (run facts -> text).

Used by ``library/metrics_textfile.py``; the names and labels are documented
in docs/metrics.md, and a unit test runs ``promtool check metrics`` on the
output. Nothing here reads a value of a managed key: the labels are the
inventory host, the Compose project, finding codes, severities, the mode,
the result and the application generation.
"""

from __future__ import annotations

import calendar
import json
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

from .copilotos_common import SEVERITIES

PREFIX = "copilotos_"
TIMESTAMP_METRIC = "copilotos_last_run_timestamp_seconds"
RECREATES_METRIC = "copilotos_api_recreates_total"
DEFAULT_SEVERITY = "medium"  # the report's default for a finding without one (UNKNOWN_FINDING)
# Results after which the host still runs the configuration it had before the run.
UNCHANGED_RESULTS = ("failed", "rolled_back", "refused", "findings", "unreachable")

HELP = {
    "copilotos_findings": ("gauge", "Findings (causes) of the last copilotos run, by severity."),
    "copilotos_findings_by_code": ("gauge", "Findings (causes) of the last copilotos run, by code and severity."),
    "copilotos_drift": ("gauge", "1 when the host's configuration differs from the plan after the last run, else 0."),
    "copilotos_run_info": ("gauge", "Mode, result and api generation of the last copilotos run (always 1)."),
    TIMESTAMP_METRIC: ("gauge", "Unix time at which the last copilotos run finished."),
    RECREATES_METRIC: ("counter", "Runs that recreated the copilotos api on this host (from its remediation log)."),
}
_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?P<labels>\{[^}]*\})?\s+(?P<value>\S+)")


def escape_label(value: Any) -> str:
    """A label value in the text exposition format: backslash, double quote and newline escaped."""
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Mapping[str, Any]) -> str:
    if not labels:
        return ""
    return "{%s}" % ",".join('%s="%s"' % (name, escape_label(labels[name])) for name in sorted(labels))


def run_time(run: Mapping[str, Any], now: float | None = None) -> int:
    """Unix seconds of the run's ``finished`` (UTC ISO 8601, ``Z``), else ``now``."""
    stamp = run.get("finished") or run.get("started")
    if isinstance(stamp, str):
        try:
            return calendar.timegm(time.strptime(stamp.replace("+00:00", "Z"), "%Y-%m-%dT%H:%M:%SZ"))
        except ValueError:
            pass
    return int(time.time() if now is None else now)


def is_audit(run: Mapping[str, Any]) -> bool:
    """An audit is ``run.mode`` audit, the run's one representation of it (docs/report-schema.md)."""
    return run.get("mode") == "audit"


def drift_after(run: Mapping[str, Any], drift_before: bool) -> bool:
    """Whether the host still differs from the plan once the run is over.

    An audit changes nothing, nor does a failed, refused or rolled-back run:
    the drift is what the state read found. A remediated or compliant run
    leaves none.
    """
    if is_audit(run) or run.get("result") in UNCHANGED_RESULTS:
        return bool(drift_before)
    return False


def recreates_total(previous: int | None, log_count: int | None, this_run: int) -> int:
    """The counter, monotonic across runs.

    The host's remediation log is the source of truth (one line per run, with
    ``restarted``); the run being recorded is already in it. The previous
    textfile's value is a floor, so a truncated log never makes the counter
    go down. Without a readable log, the previous value plus this run.
    """
    prev = max(int(previous or 0), 0)
    if log_count is None:
        return prev + max(int(this_run), 0)
    return max(prev, int(log_count))


def count_restarts(lines: Iterable[bytes | str]) -> int:
    """Lines of a remediation log (JSON objects) whose run restarted the api."""
    count = 0
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("restarted") is True:
            count += 1
    return count


def counts(findings: Iterable[Mapping[str, Any]]) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    """Findings per severity (all four always present) and per (code, severity)."""
    by_severity = dict.fromkeys(SEVERITIES, 0)
    by_code: dict[tuple[str, str], int] = {}
    for item in findings:
        severity = str(item.get("severity")) if item.get("severity") in SEVERITIES else DEFAULT_SEVERITY
        code = str(item.get("code") or "UNKNOWN_FINDING")
        by_severity[severity] += 1
        by_code[(code, severity)] = by_code.get((code, severity), 0) + 1
    return by_severity, by_code


def render(run: Mapping[str, Any], drift_before: bool, recreates: int, now: float | None = None) -> str:
    """The textfile for one host's run, in the Prometheus text exposition format (sorted, stable)."""
    base = {"host": run.get("host") or "", "project": run.get("compose_project") or ""}
    by_severity, by_code = counts(run.get("findings") or [])
    samples: dict[str, list[tuple[dict[str, Any], Any]]] = {
        "copilotos_findings": [(dict(base, severity=s), by_severity[s]) for s in SEVERITIES],
        "copilotos_findings_by_code": [
            (dict(base, code=code, severity=severity), n) for (code, severity), n in sorted(by_code.items())
        ],
        "copilotos_drift": [(base, int(drift_after(run, drift_before)))],
        "copilotos_run_info": [(dict(base, mode="audit" if is_audit(run) else "remediate",
                                     result=run.get("result") or "unknown",
                                     generation=run.get("generation") or "unknown"), 1)],
        TIMESTAMP_METRIC: [(base, run_time(run, now))],
        RECREATES_METRIC: [(base, int(recreates))],
    }
    out = []
    for name in sorted(samples):
        kind, text = HELP[name]
        out += ["# HELP %s %s" % (name, text), "# TYPE %s %s" % (name, kind)]
        out += ["%s%s %s" % (name, _labels(labels), value) for labels, value in samples[name]]
    return "\n".join(out) + "\n"


def sample_value(text: str | None, name: str) -> float | None:
    """The value of the first sample of ``name`` in a textfile, or None."""
    for line in (text or "").splitlines():
        match = _SAMPLE.match(line)
        if match and match.group("name") == name:
            try:
                return float(match.group("value"))
            except ValueError:
                return None
    return None


def stable(text: str | None) -> str:
    """The textfile without its run-time sample: what ``changed`` is judged on.

    The time of the last run changes on every run; the rest only when the
    host's state, the run's result or the counter does.
    """
    lines = (text or "").splitlines()
    return "\n".join(line for line in lines if not line.startswith(TIMESTAMP_METRIC))
