"""copilotos_notify and copilotos_metrics through ansible-playbook on localhost, without Docker.

A tiny playbook sets a synthetic run (the stage facts remediate.yml's roles
publish, as tests/integration/test_report_html.py does for the report) and
includes ``copilotos_notify`` (``before``, ``after``) and ``copilotos_metrics``.
The webhook is a Python ``http.server`` on 127.0.0.1 (random port) run by
the test. Asserted: the received JSON payloads (documented fields, key names,
no secret), that a receiver answering 500, a slow one and a closed port only
give warnings (the play succeeds), that an audit sends nothing and writes no
metrics unless ``copilotos_metrics_in_audit``, and that the textfile is
written atomically (0644, no temp file left), passes ``promtool check
metrics`` and a second run with the same state reports changed=0.
"""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.helpers.promtool import check_metrics
from tests.helpers.webhook import Receiver, running_receiver

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = VENV_BIN / "python"
SECRET = "Sup3r$ecret:pw@1"
MONGO_SECRET = "m0ngo-S3cret"
KEYS = ["REDIS_URL", "REDIS_PASSWORD", "CORS_ORIGINS"]

PLAYBOOK = """\
---
- name: Synthetic notify and metrics run
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Set the stage facts of a remediation
      ansible.builtin.set_fact:
        copilotos_plan: "{{ synthetic.plan }}"
        copilotos_state: "{{ synthetic.state }}"
        copilotos_write: "{{ synthetic.write }}"
        copilotos_changing: true

    - name: Announce the recreate
      ansible.builtin.include_role:
        name: copilotos_notify
        tasks_from: before.yml

    - name: Set the run record and the report summary
      ansible.builtin.set_fact:
        copilotos_run: "{{ synthetic.run }}"
        copilotos_summary: "{{ synthetic.summary }}"
        copilotos_rollback: "{{ synthetic.rollback }}"

    - name: Announce the outcome
      ansible.builtin.include_role:
        name: copilotos_notify
        tasks_from: after.yml

    - name: Write the metrics
      ansible.builtin.include_role:
        name: copilotos_metrics

    - name: Show that the play went on
      ansible.builtin.debug:
        msg: >-
          play reached its end; metrics
          content_changed={{ copilotos_metrics_result.content_changed | default('skipped') }}
"""


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as server:
        yield server


def closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return "http://127.0.0.1:%d/hook" % port


def synthetic(tmp: Path, result: str = "remediated", mode: str = "remediate") -> dict[str, Any]:
    project = tmp / "project"
    project.mkdir(exist_ok=True)
    log = project / ".copilotos-remediation.log"
    if not log.exists():
        log.write_text(json.dumps({"time": "2026-11-28T06:00:00Z", "restarted": True}) + "\n"
                       + json.dumps({"time": "2026-11-29T06:01:00Z", "restarted": True}) + "\n")
    audit = mode == "audit"
    return {
        "plan": {"mode": mode, "compose": {"project": "copilotos-lab1"},
                 "paths": {"project_dir": str(project), "log_file": str(log)}, "lock": {"owner": {"user": "ops"}}},
        "state": {"drift": {"change": True, "pending_keys": KEYS, "recreate": True}},
        "write": {"env": {"changed": True, "changed_keys": KEYS}, "override": {"changed": False}},
        "run": {"host": "localhost", "mode": mode, "check_mode": audit, "result": result, "user": "ops",
                "started": "2026-11-29T06:00:00Z", "finished": "2026-11-29T06:01:00Z",
                "compose_project": "copilotos-lab1", "project_dir": str(project), "generation": "diagnosis",
                "changed_keys": KEYS, "recreated": True,
                "failure": "verify: redis://:%s@redis:6379/0 refused" % quote(SECRET, safe="")
                if result != "remediated" else None,
                "findings": [] if result == "remediated" else
                [{"code": "REDIS_CLIENTS_MISCONFIGURED", "severity": "critical"},
                 {"code": "CORS_ORIGIN_MISSING", "severity": "critical"}]},
        "summary": {"report": str(tmp / "reports" / "20261129T060000Z" / "localhost.md")},
        "rollback": {"done": result == "rolled_back"},
    }


def play(tmp: Path, url: str, *extra: str, result: str = "remediated", mode: str = "remediate",
         **variables: Any) -> subprocess.CompletedProcess[str]:
    textfiles = tmp / "textfile"
    textfiles.mkdir(exist_ok=True)
    (tmp / "playbook.yml").write_text(PLAYBOOK, encoding="utf-8")
    extra_vars = {"synthetic": synthetic(tmp, result, mode), "copilotos_notify_url": url,
                  "copilotos_notify_timeout": 2, "copilotos_redis_password": SECRET,
                  "copilotos_mongo_password": MONGO_SECRET, "copilotos_metrics_textfile_dir": str(textfiles)}
    extra_vars.update(variables)
    (tmp / "vars.json").write_text(json.dumps(extra_vars), encoding="utf-8")
    env = dict(os.environ)
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               PATH="%s:%s" % (VENV_BIN, env.get("PATH", "")))
    env.pop("ANSIBLE_STDOUT_CALLBACK", None)
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", str(tmp / "playbook.yml"), "-c", "local",
           "-e", "@%s" % (tmp / "vars.json"), "-e", "ansible_python_interpreter=%s" % PYTHON, *extra]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


def recap(proc: subprocess.CompletedProcess[str]) -> dict[str, int]:
    match = re.search(r"^localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", proc.stdout,
                      re.M)
    assert match, proc.stdout[-3000:] + proc.stderr[-2000:]
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, match.groups()), strict=True))


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for form in (SECRET, quote(SECRET, safe=""), MONGO_SECRET):
            assert form not in text


def textfile(tmp: Path) -> Path:
    return tmp / "textfile" / "copilotos_localhost.prom"


def test_payloads_before_and_after_and_the_metrics(tmp_path: Path, receiver: Receiver) -> None:
    receiver.reset()
    proc = play(tmp_path, receiver.url)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert recap(proc)["failed"] == 0
    assert "play reached its end" in proc.stdout
    before, after = receiver.bodies
    assert all(h.get("Content-Type") == "application/json" for h in receiver.headers)
    assert isinstance(before["text"], str) and "recreating the api" in before["text"]
    assert before["copilotos"]["event"] == "before_recreate" and before["copilotos"]["host"] == "localhost"
    assert before["copilotos"]["keys"] == sorted(KEYS)
    assert before["copilotos"]["expected_downtime_s"] == 10 and before["copilotos"]["max_downtime_s"] == 120
    assert before["copilotos"]["project"] == "copilotos-lab1" and before["copilotos"]["user"] == "ops"
    assert after["copilotos"]["event"] == "after_verify" and after["copilotos"]["result"] == "remediated"
    assert after["copilotos"]["rolled_back"] is False and after["copilotos"]["recreated"] is True
    assert after["copilotos"]["report"].endswith("/reports/20261129T060000Z/localhost.md")
    assert after["copilotos"]["run_id"] == "20261129T060000Z"
    assert after["copilotos"]["report"] in after["text"]
    for body in (before, after):
        assert set(body) == {"text", "attachments", "copilotos"}
        assert body["attachments"][0]["fields"] and body["attachments"][0]["fallback"] == body["text"]
    assert_no_secret(json.dumps(receiver.bodies), proc.stdout, proc.stderr)
    assert "token-in-the-path" not in proc.stdout + proc.stderr, "the webhook URL is no_log"

    path = textfile(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no temp file left behind"
    text = path.read_text(encoding="utf-8")
    check = check_metrics(text)
    assert check.returncode == 0, check.stdout + check.stderr
    assert 'copilotos_run_info{generation="diagnosis",host="localhost",mode="remediate",project="copilotos-lab1",' \
           'result="remediated"} 1' in text
    assert re.search(r"^copilotos_api_recreates_total\{[^}]*\} 2$", text, re.M), "two restarts in the log"
    assert re.search(r"^copilotos_drift\{[^}]*\} 0$", text, re.M)
    assert_no_secret(text)

    # The same state again: the metrics are unchanged and the recap says so.
    receiver.reset()
    again = play(tmp_path, receiver.url)
    assert again.returncode == 0 and recap(again)["changed"] == 0
    assert "metrics content_changed=False" in again.stdout
    assert path.read_text(encoding="utf-8") == text


def test_a_rolled_back_run_is_announced_without_its_secret(tmp_path: Path, receiver: Receiver) -> None:
    receiver.reset()
    proc = play(tmp_path, receiver.url, result="rolled_back")
    assert proc.returncode == 0, proc.stdout[-3000:]
    after = receiver.bodies[-1]["copilotos"]
    assert after["result"] == "rolled_back" and after["rolled_back"] is True
    assert "redis://:********@redis:6379/0" in after["failure"]
    assert_no_secret(json.dumps(receiver.bodies), proc.stdout, proc.stderr)
    text = textfile(tmp_path).read_text(encoding="utf-8")
    assert 'result="rolled_back"' in text and re.search(r"^copilotos_drift\{[^}]*\} 1$", text, re.M)
    assert re.search(r'^copilotos_findings\{[^}]*severity="critical"\} 2$', text, re.M)


@pytest.mark.parametrize("failure", ["http_500", "slow", "closed_port"])
def test_an_undelivered_notification_is_a_warning(tmp_path: Path, receiver: Receiver, failure: str) -> None:
    receiver.reset(status=500 if failure == "http_500" else 200, delay=4.0 if failure == "slow" else 0.0)
    url = closed_port_url() if failure == "closed_port" else receiver.url
    proc = play(tmp_path, url, copilotos_notify_timeout=1)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    counts = recap(proc)
    assert counts["failed"] == 0 and counts["changed"] == 0
    assert "play reached its end" in proc.stdout
    warnings = re.findall(r"notification to http://127\.0\.0\.1:\d+ was not delivered \(([^)]*)\)", out)
    assert len(warnings) == 2, out[-3000:]
    if failure == "http_500":
        assert warnings == ["HTTP 500", "HTTP 500"]
    assert "token-in-the-path" not in out
    assert_no_secret(out)
    assert textfile(tmp_path).is_file(), "the metrics are written all the same"


def test_an_audit_sends_nothing_and_writes_metrics_only_when_allowed(tmp_path: Path, receiver: Receiver) -> None:
    receiver.reset()
    proc = play(tmp_path, receiver.url, "--check", result="findings", mode="audit")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert receiver.bodies == []
    assert not textfile(tmp_path).exists(), "an audit is read-only on the target by default"

    allowed = play(tmp_path, receiver.url, "--check", result="findings", mode="audit",
                   copilotos_metrics_in_audit=True)
    assert allowed.returncode == 0, allowed.stdout[-3000:]
    assert receiver.bodies == []
    assert recap(allowed)["changed"] == 0
    text = textfile(tmp_path).read_text(encoding="utf-8")
    assert 'mode="audit"' in text and 'result="findings"' in text
    assert re.search(r"^copilotos_drift\{[^}]*\} 1$", text, re.M)
    assert re.search(r"^copilotos_api_recreates_total\{[^}]*\} 2$", text, re.M), "an audit recreates nothing"
    check = check_metrics(text)
    assert check.returncode == 0, check.stdout + check.stderr


def test_no_url_no_notification_and_no_dir_no_metrics(tmp_path: Path, receiver: Receiver) -> None:
    receiver.reset()
    proc = play(tmp_path, "", copilotos_metrics_textfile_dir="")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert receiver.bodies == [] and not textfile(tmp_path).exists()
    assert "content_changed=skipped" in proc.stdout


def test_a_bad_notification_setting_is_rescued_inside_the_role(tmp_path: Path, receiver: Receiver) -> None:
    # headers must be a mapping: the module's argument check fails, the role's own rescue turns it into a
    # warning, so the play's rescue (the rollback, in remediate.yml) is never entered.
    receiver.reset()
    proc = play(tmp_path, receiver.url, copilotos_notify_headers="not-a-mapping")
    assert proc.returncode == 0, proc.stdout[-3000:]
    counts = recap(proc)
    assert counts["failed"] == 0
    assert "WARNING: the before_recreate maintenance notification was not sent" in proc.stdout
    assert "WARNING: the after_verify maintenance notification was not sent" in proc.stdout
    assert "play reached its end" in proc.stdout and receiver.bodies == []
    assert "token-in-the-path" not in proc.stdout + proc.stderr
