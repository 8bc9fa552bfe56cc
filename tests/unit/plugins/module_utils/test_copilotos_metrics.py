"""copilotos_metrics: the textfile rendering (names, labels, escaping, counts) and promtool on it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils.copilotos_metrics import (
    count_restarts,
    drift_after,
    escape_label,
    recreates_total,
    render,
    run_time,
    sample_value,
    stable,
)

from tests.helpers.promtool import check_metrics
from tests.helpers.promtool import run as promtool_run

SAMPLE = re.compile(r'^(?P<name>[a-z_]+)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def incident_run() -> dict[str, Any]:
    return {
        "host": "lab1", "mode": "audit", "check_mode": True, "result": "findings", "generation": "diagnosis",
        "compose_project": "copilotos-lab1", "finished": "2026-11-29T06:01:00Z", "recreated": True,
        "findings": [
            {"code": "REDIS_CLIENTS_MISCONFIGURED", "severity": "critical"},
            {"code": "CORS_ORIGIN_MISSING", "severity": "critical"},
            {"code": "COMPOSE_SHADOWS_ENV_FILE", "severity": "critical"},
            {"code": "SAPTIVA_TIMEOUT_BELOW_PLAN", "severity": "medium"},
            {"code": "MONGO_POOL_AGGRESSIVE", "severity": "medium"},
            {"code": "RATE_LIMIT_BELOW_EXPECTED", "severity": "low"},
            {"code": "INERT_KEY", "severity": "info"},
            {"code": "INERT_KEY", "severity": "info"},
        ],
    }


def compliant_run() -> dict[str, Any]:
    return {"host": "lab1", "mode": "remediate", "check_mode": False, "result": "compliant",
            "generation": "current", "compose_project": "copilotos-lab1", "finished": "2026-11-29T07:00:00Z",
            "findings": []}


def samples(text: str) -> list[tuple[str, dict[str, str], str]]:
    out = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, line
        labels = {k: v for k, v in LABEL.findall(match.group("labels") or "")}
        out.append((match.group("name"), labels, match.group("value")))
    return out


def value(text: str, name: str, **labels: str) -> str:
    found = [v for n, ls, v in samples(text) if n == name and all(ls.get(k) == w for k, w in labels.items())]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def test_names_types_and_help_are_documented() -> None:
    text = render(incident_run(), True, 2)
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    assert types == {
        "copilotos_api_recreates_total": "counter",
        "copilotos_drift": "gauge",
        "copilotos_findings": "gauge",
        "copilotos_findings_by_code": "gauge",
        "copilotos_last_run_timestamp_seconds": "gauge",
        "copilotos_run_info": "gauge",
    }
    assert set(re.findall(r"^# HELP (\S+) ", text, re.M)) == set(types)
    docs = (Path(__file__).resolve().parents[4] / "docs" / "metrics.md").read_text(encoding="utf-8")
    for name in types:
        assert "`%s`" % name in docs, "%s is not documented in docs/metrics.md" % name


def test_counts_by_severity_and_by_code() -> None:
    text = render(incident_run(), True, 2)
    assert [value(text, "copilotos_findings", severity=s) for s in ("critical", "medium", "low", "info")] == \
        ["3", "2", "1", "2"]
    assert value(text, "copilotos_findings_by_code", code="INERT_KEY", severity="info") == "2"
    assert value(text, "copilotos_findings_by_code", code="CORS_ORIGIN_MISSING") == "1"
    codes = {ls["code"] for n, ls, _ in samples(text) if n == "copilotos_findings_by_code"}
    assert len(codes) == 7


def test_info_gauge_time_drift_and_counter() -> None:
    text = render(incident_run(), True, 2)
    assert value(text, "copilotos_run_info", mode="audit", result="findings", generation="diagnosis",
                 host="lab1", project="copilotos-lab1") == "1"
    assert value(text, "copilotos_last_run_timestamp_seconds") == "1795932060"
    assert value(text, "copilotos_drift") == "1"
    assert value(text, "copilotos_api_recreates_total") == "2"
    # Every sample carries the host and the project.
    assert all({"host", "project"} <= set(ls) for _, ls, _ in samples(text))


def test_a_finding_without_severity_counts_as_medium() -> None:
    run = dict(compliant_run(), findings=[{"code": "SOMETHING_NEW"}])
    text = render(run, False, 0)
    assert value(text, "copilotos_findings", severity="medium") == "1"
    assert value(text, "copilotos_findings_by_code", code="SOMETHING_NEW", severity="medium") == "1"


@pytest.mark.parametrize(("raw", "escaped"), [
    ("plain", "plain"),
    ('a"b', 'a\\"b'),
    ("a\\b", "a\\\\b"),
    ("a\nb", "a\\nb"),
    (None, ""),
])
def test_label_values_are_escaped(raw: Any, escaped: str) -> None:
    assert escape_label(raw) == escaped


def test_an_awkward_project_name_stays_one_valid_line_per_sample() -> None:
    run = dict(incident_run(), compose_project='we"ird\\name\nsecond line')
    text = render(run, True, 0)
    assert 'project="we\\"ird\\\\name\\nsecond line"' in text
    assert all(line.startswith(("#", "copilotos_")) for line in text.splitlines())
    proc = check_metrics(text)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("run", [incident_run(), compliant_run()], ids=["incident", "compliant"])
def test_promtool_check_metrics_passes(run: dict[str, Any]) -> None:
    proc = check_metrics(render(run, run["result"] == "findings", 1))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_output_changes_with_the_hosts_state_and_is_stable_otherwise() -> None:
    incident, compliant = render(incident_run(), True, 1), render(compliant_run(), False, 1)
    assert stable(incident) != stable(compliant)
    assert value(compliant, "copilotos_drift") == "0"
    assert value(compliant, "copilotos_findings", severity="critical") == "0"
    assert "copilotos_findings_by_code" not in [n for n, _, _ in samples(compliant)]
    # Same state, later run: only the run-time sample differs.
    later = dict(compliant_run(), finished="2026-11-29T08:00:00Z")
    again = render(later, False, 1)
    assert again != compliant and stable(again) == stable(compliant)
    assert render(compliant_run(), False, 1) == compliant, "rendering is deterministic"


@pytest.mark.parametrize(("run", "before", "after"), [
    ({"mode": "audit", "check_mode": True, "result": "findings"}, True, True),
    ({"mode": "audit", "check_mode": True, "result": "compliant"}, False, False),
    ({"mode": "remediate", "result": "remediated"}, True, False),
    ({"mode": "remediate", "result": "compliant"}, False, False),
    ({"mode": "rollback", "result": "rolled_back"}, True, True),
    ({"mode": "remediate", "result": "failed"}, True, True),
    ({"mode": "remediate", "result": "refused"}, True, True),
])
def test_drift_after_the_run(run: dict[str, Any], before: bool, after: bool) -> None:
    assert drift_after(run, before) is after


def test_the_recreate_counter_is_monotonic() -> None:
    assert recreates_total(None, None, 1) == 1
    assert recreates_total(4, None, 1) == 5, "no log: the previous value plus this run"
    assert recreates_total(4, 6, 1) == 6, "the log is the source of truth (this run is in it)"
    assert recreates_total(9, 6, 1) == 9, "a truncated log never makes it go down"
    assert recreates_total(None, 0, 0) == 0


def test_restarts_are_counted_from_the_remediation_log() -> None:
    lines = ['{"restarted": true}', '{"restarted": false}', "garbage", "[1]", '{"restarted": true, "x": 1}', ""]
    assert count_restarts(lines) == 2


def test_sample_value_and_run_time() -> None:
    text = render(incident_run(), True, 7)
    assert sample_value(text, "copilotos_api_recreates_total") == 7.0
    assert sample_value(text, "nope") is None and sample_value(None, "x") is None
    assert run_time({"finished": "1970-01-01T00:01:00Z"}) == 60
    assert run_time({"finished": "bogus"}, now=5.0) == 5


ALERTS = Path(__file__).resolve().parents[4] / "docs" / "prometheus" / "copilotos-alerts.yml"

RULE_TESTS = """\
rule_files: [%s]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'copilotos_findings{host="lab1",project="p",severity="critical"}'
        values: '3x30'
      - series: 'copilotos_findings{host="lab2",project="p",severity="critical"}'
        values: '0x30'
      - series: 'copilotos_drift{host="lab1",project="p"}'
        values: '1x90'
      - series: 'copilotos_run_info{host="lab2",project="p",mode="remediate",result="rolled_back",generation="current"}'
        values: '1x30'
    alert_rule_test:
      - eval_time: 20m
        alertname: CopilotosCriticalFindings
        exp_alerts:
          - exp_labels: {severity: critical, host: lab1, project: p}
            exp_annotations:
              summary: "copilotos on lab1 (p): 3 critical finding(s)"
              description: >-
                The last audit or remediation found critical causes. Read the report on the controller
                (reports/latest/lab1.md) and run remediate.yml --limit lab1.
      - eval_time: 30m
        alertname: CopilotosConfigurationDrift
        exp_alerts: []
      - eval_time: 80m
        alertname: CopilotosConfigurationDrift
        exp_alerts:
          - exp_labels: {severity: warning, host: lab1, project: p}
            exp_annotations:
              summary: "copilotos on lab1 (p) differs from the plan"
              description: >-
                The configuration the api runs differs from the inventory's plan (an edit by hand, a restart
                that did not re-read the env file). remediate.yml --check --diff shows the keys.
      - eval_time: 5m
        alertname: CopilotosRemediationFailed
        exp_alerts:
          - exp_labels: {severity: critical, host: lab2, project: p, mode: remediate, result: rolled_back,
                         generation: current}
            exp_annotations:
              summary: "copilotos remediation on lab2 ended rolled_back"
              description: >-
                The last remediation did not converge; a rolled-back host runs its previous configuration.
                The failure is in the report and in the host's remediation log.
"""


def test_the_example_alert_rules_pass_promtool_check_rules() -> None:
    proc = promtool_run("check", "rules", str(ALERTS))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 5 rules found" in proc.stdout


def test_the_example_alert_rules_fire_on_the_rendered_series(tmp_path: Path) -> None:
    tests = tmp_path / "rules_test.yml"
    tests.write_text(RULE_TESTS % ALERTS, encoding="utf-8")
    proc = promtool_run("test", "rules", str(tests))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_missing_promtool_fails_naming_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.helpers.promtool as helper

    monkeypatch.setattr(helper.shutil, "which", lambda _name: None)
    with pytest.raises(AssertionError, match="install Debian's prometheus package"):
        helper.check_metrics("")
