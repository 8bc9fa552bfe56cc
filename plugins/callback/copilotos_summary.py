# Copyright: copilotos-remediation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


from __future__ import annotations

DOCUMENTATION = r"""
---
name: copilotos_summary
type: aggregate
short_description: Print a per-host copilotos summary after the play recap
description:
  - After Ansible's own recap, prints one line per host that ran the copilotos_report role - findings
    by severity, keys changed, whether the api was recreated, the verification outcome (passed, failed,
    rolled back) and where the report lies - then the run's index.html.
  - Data comes from the role's C(set_stats) (C(copilotos_summary), aggregated per host), and, for
    playbooks that call the C(copilotos_report) module directly, from that task's result.
  - Adds to the stdout callback rather than replacing it; prints nothing when no copilotos data was produced.
requirements:
  - enable it in ansible.cfg (C(callbacks_enabled = copilotos_summary)), as this project does
"""

from typing import Any

from ansible.plugins.callback import CallbackBase

SEVERITIES = ("critical", "medium", "low", "info")
VERIFICATION_LABELS = {
    "passed": "passed",
    "failed": "FAILED",
    "rolled_back": "ROLLED BACK",
    "skipped": "skipped",
    "not_run": "not run",
    "unreachable": "UNREACHABLE",
}


def _row(summary: dict[str, Any]) -> list[str]:
    counts = summary.get("counts") or {}
    keys = summary.get("changed_keys") or []
    if summary.get("audit"):
        changed = "audit only"
    else:
        changed = str(len(keys)) if keys else "none"
    return (
        [str(summary.get("host", "?"))]
        + [str(counts.get(severity, 0)) for severity in SEVERITIES]
        + [
            changed,
            "yes" if summary.get("recreated") else "no",
            VERIFICATION_LABELS.get(str(summary.get("verification")), str(summary.get("verification") or "-")),
            str(summary.get("report") or "-"),
        ]
    )


def format_table(summaries: dict[str, dict[str, Any]]) -> list[str]:
    """Lines of the summary table, one row per host (sorted)."""
    header = ["host", *SEVERITIES, "keys changed", "api recreated", "verification", "report"]
    rows = [[host, *_row(summaries[host])[1:]] for host in sorted(summaries)]
    widths = [max(len(row[col]) for row in [header, *rows]) for col in range(len(header) - 1)]

    def line(cells: list[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells[:-1], widths, strict=True)) + "  " + cells[-1]

    lines = [line(header)] + [line(row) for row in rows]
    indexes = sorted({str(s.get("index")) for s in summaries.values() if s.get("index")})
    lines += ["index: %s" % index for index in indexes]
    return lines


class CallbackModule(CallbackBase):
    """Notification callback: a copilotos table after the stdout callback's recap."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "copilotos_summary"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._from_results: dict[str, dict[str, Any]] = {}
        self._unreachable: set[str] = set()

    def v2_runner_on_unreachable(self, result: Any) -> None:
        host = getattr(result, "_host", None)
        if host is not None:
            self._unreachable.add(str(host.get_name()))

    def v2_runner_on_ok(self, result: Any) -> None:
        task = getattr(result, "_task", None)
        action = str(getattr(task, "action", "") or "")
        if action.rsplit(".", 1)[-1] != "copilotos_report":
            return
        summary = (getattr(result, "_result", None) or {}).get("summary")
        host = getattr(result, "_host", None)
        name = host.get_name() if host is not None else None
        if isinstance(summary, dict):
            self._from_results[str(name or summary.get("host", "?"))] = summary

    def v2_playbook_on_stats(self, stats: Any) -> None:
        summaries = dict(self._from_results)
        custom = getattr(stats, "custom", None) or {}
        for scope in custom.values():
            data = scope.get("copilotos_summary") if isinstance(scope, dict) else None
            if isinstance(data, dict):
                summaries.update({str(host): s for host, s in data.items() if isinstance(s, dict)})
        if not summaries:
            return
        # A host that never answered and got no report (the play that writes
        # them for such hosts did not run) still gets its row.
        for host in self._unreachable - set(summaries):
            summaries[host] = {"host": host, "result": "unreachable", "verification": "unreachable"}
        self._display.banner("COPILOTOS SUMMARY")
        for text in format_table(summaries):
            self._display.display(text)
        self._display.display("")
