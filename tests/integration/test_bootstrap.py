"""playbooks/bootstrap.yml builds a working virtualenv for the modules."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers.lab import ROOT, run_playbook

pytestmark = [pytest.mark.slow]


def test_bootstrap_creates_a_venv_the_modules_can_use(tmp_path: Path) -> None:
    inv = tmp_path / "inventory"
    inv.mkdir()
    (inv / "hosts.yml").write_text(
        "---\ncopilotos:\n  hosts:\n    target:\n      ansible_connection: local\n"
        "      ansible_python_interpreter: %s\n" % (ROOT / ".venv" / "bin" / "python"))
    venv = tmp_path / "venv"
    first = run_playbook("playbooks/bootstrap.yml", inv, tmp_path,
                         extravars={"copilotos_venv_path": str(venv), "copilotos_venv_python": "python3"})
    assert first.rc == 0, first.stdout[-3000:]
    assert first.changed("target") >= 1  # venv created, lock copied, libraries installed
    out = subprocess.run([str(venv / "bin" / "python"), "-c", "import docker, redis, pymongo; print(pymongo.version)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "4.20.0"
    second = run_playbook("playbooks/bootstrap.yml", inv, tmp_path,
                          extravars={"copilotos_venv_path": str(venv), "copilotos_venv_python": "python3"})
    assert second.rc == 0 and second.changed("target") == 0
