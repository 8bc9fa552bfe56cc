"""The copilotos_report action plugin through ansible-playbook (no Docker).

The report task runs in the controller's worker: the host it runs for is an
SSH host nobody listens for (127.0.0.1, port 9), so a task that needed a
connection would end unreachable. The playbook calls the action directly,
without the role's ``delegate_to: localhost``.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_report_html import MONGO_SECRET, PYTHON, ROOT, SECRET, VENV_BIN, runs

INVENTORY = """\
[copilotos]
far ansible_connection=ssh ansible_host=127.0.0.1 ansible_port=9 ansible_user=nobody
"""

PLAYBOOK = """\
---
- name: The report action on a host nobody can reach
  hosts: copilotos
  gather_facts: false
  tasks:
    - name: Write the reports
      copilotos_report:
        run: "{{ synthetic_run }}"
        catalogue: "%(root)s/roles/copilotos_report/files/findings_catalogue.yml"
        template_dir: "%(root)s/roles/copilotos_report/templates"
        report_dir: "{{ report_dir }}/run1"
        fail_on: "{{ fail_on }}"
        secrets: "{{ secrets }}"
      check_mode: "{{ report_check }}"
      register: written

    - name: Show the result
      ansible.builtin.debug:
        msg: "RESULT {{ written | to_json }}"
"""


def play(tmp: Path, run: dict[str, Any], fail_on: str = "critical", check: bool = False) -> tuple[int, str]:
    (tmp / "inventory.ini").write_text(INVENTORY, encoding="utf-8")
    (tmp / "playbook.yml").write_text(PLAYBOOK % {"root": ROOT}, encoding="utf-8")
    extra = {"synthetic_run": run, "report_dir": str(tmp / "reports"), "fail_on": fail_on,
             "secrets": [SECRET, MONGO_SECRET], "report_check": check}
    (tmp / "vars.json").write_text(json.dumps(extra), encoding="utf-8")
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH="%s:%s" % (VENV_BIN, os.environ.get("PATH", "")))
    done = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", str(tmp / "inventory.ini"),
                           str(tmp / "playbook.yml"), "-e", "@%s" % (tmp / "vars.json"),
                           "-e", "ansible_python_interpreter=%s" % PYTHON],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    return done.returncode, done.stdout + done.stderr


def result_of(output: str) -> dict[str, Any]:
    line = next(line for line in output.splitlines() if '"msg": "RESULT ' in line)
    return dict(json.loads(json.loads("{%s}" % line.strip())["msg"][len("RESULT "):]))


@pytest.fixture
def run() -> dict[str, Any]:
    record = dict(runs()["localhost"])
    record["host"] = "far"
    return record


def test_it_writes_the_reports_without_a_connection_to_the_host(tmp_path: Path, run: dict[str, Any]) -> None:
    rc, output = play(tmp_path, run)
    assert rc == 0, output
    assert "unreachable=0" in output and "failed=0" in output, output
    result = result_of(output)
    assert result["changed"] is True
    assert result["summary"]["host"] == "far"
    assert result["summary"]["counts"]["critical"] >= 1
    files = result["files"]
    assert sorted(files) == ["index", "json", "markdown"]
    for path in files.values():
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    assert json.loads(Path(files["json"]).read_text())["host"] == "far"
    assert stat.S_IMODE(os.stat(tmp_path / "reports" / "run1").st_mode) == 0o700
    assert SECRET not in output and MONGO_SECRET not in output


def test_check_mode_renders_and_writes_nothing(tmp_path: Path, run: dict[str, Any]) -> None:
    rc, output = play(tmp_path, run, check=True)
    assert rc == 0, output
    result = result_of(output)
    assert result["changed"] is False and result["files"] == {}
    assert "nothing written (check mode)" in result["msg"]
    assert not (tmp_path / "reports").exists()


def test_a_bad_option_is_refused_by_name_and_nothing_is_written(tmp_path: Path, run: dict[str, Any]) -> None:
    rc, output = play(tmp_path, run, fail_on="loud")
    assert rc == 2, output
    assert "fail_on" in output and "loud" in output, output
    assert "Traceback" not in output
    assert SECRET not in output and MONGO_SECRET not in output
    assert not (tmp_path / "reports").exists()


def test_a_secret_in_the_run_fails_the_host_naming_where_not_what(tmp_path: Path, run: dict[str, Any]) -> None:
    leaky = dict(runs(leak=True)["localhost"], host="far")
    rc, output = play(tmp_path, leaky)
    assert rc == 2, output
    assert "run.findings[0].evidence.raw" in output, output
    assert SECRET not in output and MONGO_SECRET not in output
    assert not list(tmp_path.glob("reports/*/far.*"))
